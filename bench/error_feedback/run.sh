#!/bin/bash
# glm-small: glmq's default GGUF quantization (error feedback from the input covariance) against llama.cpp's files of
# the same types and sizes, KLD by glmq ppl --method llama (llama-perplexity's chunks) vs this glmq's bf16 run.
# Writes one line per build: NAME code=KLD wiki=KLD FILE_BYTES (bench/error_feedback.md holds a recorded run).
#   PEER_WORK [/work/peer_models]  bench/peer/run.sh's work folder: models/llama-{bf16,seed,iq4_nl,q4_k_m,q8_0,q6_k}.gguf
#                                   and calib.txt (the start of python-code-train.txt + python-docs-train.txt)
#   OUT [/tmp/glmq-error-feedback]  covariance, builds, logs
#   GLMQ [build/glmq]  THREADS [2]  CHUNKS [8]  IMATRIX_CHUNKS [16]  COV_CHUNKS [64]  BUILDS [seed iq4_nl q4_k_m q8_0 q6_k]
# glmq's builds take every tensor's type from llama.cpp's file (bench/peer/gguf_info.py rules), so only the codes
# differ. The imatrix is the 16-chunk one bench/peer uses; the covariance uses COV_CHUNKS chunks of the same text.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
PEER_WORK=${PEER_WORK:-/work/peer_models}; OUT=${OUT:-/tmp/glmq-error-feedback}; GLMQ=${GLMQ:-$here/build/glmq}
THREADS=${THREADS:-2}; CHUNKS=${CHUNKS:-8}; IMATRIX_CHUNKS=${IMATRIX_CHUNKS:-16}; COV_CHUNKS=${COV_CHUNKS:-64}
BUILDS=${BUILDS:-"seed iq4_nl q4_k_m q8_0 q6_k"}
HF=$here/../shared/models/glm-small
declare -A TEXT=([code]=$here/../shared/data/corpus/python-code-test.txt [wiki]=$here/../shared/data/wikitext-2-raw/wiki.test.raw)
mkdir -p "$OUT/models" "$OUT/logs"

[[ -f $OUT/imatrix.gguf ]] || "$GLMQ" imatrix --model "$HF" --data "$PEER_WORK/calib.txt" --out "$OUT/imatrix.gguf" \
  --ctx 512 --chunks "$IMATRIX_CHUNKS" --threads "$THREADS" >"$OUT/logs/imatrix.log" 2>&1
[[ -f $OUT/covariance.gguf ]] || "$GLMQ" imatrix --model "$HF" --data "$PEER_WORK/calib.txt" --out "$OUT/imatrix-cov.gguf" \
  --covariance "$OUT/covariance.gguf" --ctx 512 --chunks "$COV_CHUNKS" --threads "$THREADS" >"$OUT/logs/covariance.log" 2>&1

kld() {  # MODEL NAME
  local line="$2" t
  for t in code wiki; do
    "$GLMQ" ppl --data "${TEXT[$t]}" --method llama --ctx 512 --chunks "$CHUNKS" --threads "$THREADS" --model "$1" \
      --kld-base "$OUT/base-$t.lp" >"$OUT/logs/ppl-$2-$t.log" 2>&1
    line="$line $t=$(grep -m1 'Mean *KLD' "$OUT/logs/ppl-$2-$t.log" | awk '{print $4}')"
  done
  echo "$line $(stat -c %s "$1")"
}
for t in code wiki; do
  [[ -f $OUT/base-$t.lp ]] || "$GLMQ" ppl --data "${TEXT[$t]}" --method llama --ctx 512 --chunks "$CHUNKS" --threads "$THREADS" \
    --model "$PEER_WORK/models/llama-bf16.gguf" --save-logits "$OUT/base-$t.lp" >"$OUT/logs/base-$t.log" 2>&1
done
for b in $BUILDS; do
  mapfile -t rules < <(python3 "$here/bench/peer/gguf_info.py" rules "$PEER_WORK/models/llama-$b.gguf")
  args=(); for r in "${rules[@]}"; do args+=(--tensor-type "$r"); done
  out=$OUT/models/glmq-$b.gguf
  [[ -f $out ]] || "$GLMQ" quantize --format gguf --model "$HF" --out "$out" --type Q8_0 "${args[@]}" \
    --imatrix "$OUT/imatrix.gguf" --covariance "$OUT/covariance.gguf" --threads "$THREADS" >"$OUT/logs/quantize-$b.log" 2>&1
  kld "$PEER_WORK/models/llama-$b.gguf" "llama.cpp-$b"
  kld "$out" "glmq-$b"
done
