#!/usr/bin/env bash
# Regenerates bench/peer.md: glmq against llama.cpp b11434 on glm-small (issue 12) — quality per bit and CPU speed
# of every build, each GGUF run by both engines, same method, same text, same machine, same run.
#
#   GLMQ_PEER_DIR=/work/llamacpp_build bench/peer/run.sh
#
# Environment (defaults in brackets):
#   GLMQ [build/glmq]              glmq binary (Release); PROBE [next to it: bench/bandwidth/bench_read_bandwidth]
#   GLMQ_PEER_DIR                  where scripts/llama_cpp_peer.sh keeps llama.cpp b11434 (installed/built if missing)
#   PEER_WORK [/work/peer_models]  every model file, KLD base and log (never inside the repository)
#   SYNTH [/work/gguf_models/synthetic]  synth-bf16.gguf / synth-q4_k_m.gguf of shared/models/make_synthetic.py
#                                  (made there if missing: ~30 minutes and 8 GB)
#   CTX [512] CHUNKS [8]           llama-perplexity's method: the first CHUNKS disjoint chunks of CTX tokens of each text
#   QUALITY_TEXTS ["code wiki"]    which texts quality scores (each build runs all of them before the next)
#   IMATRIX_CHUNKS [16]            chunks of CTX tokens of the calibration text for llama-imatrix and glmq imatrix
#   COV_CHUNKS [64]                chunks of the same text for glmq's input covariance (its error-feedback quantization)
#   ROUNDS [3] NICE [-10]          speed: interleaved rounds (medians), niceness of both engines while timed
#   THREADS [2]                    both engines, every step
#   SPEED_THREADS ["$THREADS 1"]   speed is timed at each of these thread counts (1 thread: no barrier between
#                                  threads, so preemption by other processes on a busy machine hurts less)
#   STEPS ["models speed synthetic quality table"]   in this order; a subset reruns part; finished runs' logs are
#                                  kept (quality skips every log that exists; speed and synthetic start afresh)
#
# Builds (PEER_WORK/models):
#   llama-bf16            llama.cpp's convert_hf_to_gguf.py (tests/gguf/llama_convert.py), bf16
#   llama-T               llama-quantize --imatrix imatrix-llama.gguf, T in Q8_0 Q6_K Q4_K_M IQ4_NL IQ4_XS;
#                         IQ2_S = ftype IQ2_M with --pure (the ftype named IQ2_S gives IQ2_XS tensors);
#                         seed = IQ4_NL --pure, routed experts IQ2_S, indexer.proj F32 (shared/docs/quant_gguf.md §7.3)
#   glmq-T                glmq quantize --format gguf --imatrix imatrix-glmq.gguf --covariance covariance-glmq.gguf
#                         (glmq's default: block scales as llama-quantize, codes chosen by error feedback through the
#                         inputs' covariance) with the same type for every tensor as llama-T (one --tensor-type
#                         '^NAME$=TYPE' per tensor, bench/peer/gguf_info.py rules); `--compatible` would give
#                         llama-quantize's bytes instead (the interop tests check that, so it is not timed here)
#   glmq-mlx-mixed-3.5, glmq-mlx-uniform-4   glmq quantize --recipe (MLX layout)
#   mlxlm-mixed_3_6       mlx_lm.convert --quant-predicate mixed_3_6 (bench/quality_mlxlm.py), if mlx_lm imports
# The calibration text of both imatrix runs is the same: the start of python-code-train.txt and python-docs-train.txt
# (not the texts scored). Q4_K_M: llama-quantize puts attn_k_b (rows of 64) in Q5_0; when this glmq cannot load
# Q5_0, Q4_K_M is made with --tensor-type attn_k_b=q8_0 instead and the table says so.
set -euo pipefail

here="$(cd "$(dirname "$0")/../.." && pwd)"
GLMQ="${GLMQ:-$here/build/glmq}"
PROBE="${PROBE:-$(dirname "$GLMQ")/bench/bandwidth/bench_read_bandwidth}"
W="${PEER_WORK:-/work/peer_models}"
SYNTH="${SYNTH:-/work/gguf_models/synthetic}"
CTX="${CTX:-512}"
CHUNKS="${CHUNKS:-8}"
QUALITY_TEXTS="${QUALITY_TEXTS:-code wiki}"
IMATRIX_CHUNKS="${IMATRIX_CHUNKS:-16}"
COV_CHUNKS="${COV_CHUNKS:-64}"
ROUNDS="${ROUNDS:-3}"
NICE="${NICE:--10}"
THREADS="${THREADS:-2}"
SPEED_THREADS="${SPEED_THREADS:-$THREADS 1}"
STEPS="${STEPS:-models speed synthetic quality table}"
shared="${GLMQ_SHARED_DIR:-$here/../shared}"
HF="$shared/models/glm-small"
declare -A TEXT=([wiki]="$shared/data/wikitext-2-raw/wiki.test.raw" [code]="$shared/data/corpus/python-code-test.txt")

peer="$("$here/scripts/llama_cpp_peer.sh")"
SRC="$(sed -n 's/^SRC=//p' <<<"$peer")"
BIN="$(sed -n 's/^BIN=//p' <<<"$peer")"
export LD_LIBRARY_PATH="$BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GGUF_PY="$SRC/gguf-py"
M="$W/models" R="$W/results" K="$W/kld"
mkdir -p "$M" "$R" "$K" "$W/logs"
has_step() { [[ " $STEPS " == *" $1 "* ]]; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
# The code each step measured: HEAD, the count of uncommitted tracked files (bench/peer.md, this script's own output,
# not counted) and the time, appended each time the step runs (bench/peer/table.py prints them all; steps can run at
# different times, e.g. quality while the machine is busy and speed once it is quiet, and a rerun may redo only
# the builds whose logs were removed).
code_of() {
  echo "$(git -C "$here" rev-parse --short HEAD) $(git -C "$here" status --porcelain --untracked-files=no | grep -vc ' bench/peer.md$') $(date -u +%Y-%m-%dT%H:%MZ)" >>"$W/code-$1.txt"
}
# step LOG CMD...: runs CMD into LOG.part, renamed to LOG on success; skipped when LOG exists.
step() {
  local out="$1"; shift
  [[ -f "$out" ]] && return 0
  log "$(basename "$out")"
  if "$@" >"$out.part" 2>&1; then mv "$out.part" "$out"; else log "FAILED: $out.part"; tail -5 "$out.part" >&2; return 1; fi
}

TYPES=(q8_0 q6_k q4_k_m iq4_nl iq4_xs iq2_s seed)
path_of() { [[ -d "$M/$1" ]] && echo "$M/$1" || echo "$M/$1.gguf"; }
MLX=(glmq-mlx-mixed-3.5 glmq-mlx-uniform-4 mlxlm-mixed_3_6)

# ---------------------------------------------------------------------------------------------------------- models
if has_step models; then
  code_of models
  if [[ ! -f "$M/llama-bf16.gguf" ]]; then
    step "$W/logs/convert.log" python3 "$here/tests/gguf/llama_convert.py" "$SRC" "$HF" "$M/llama-bf16.part.gguf" bf16
    mv "$M/llama-bf16.part.gguf" "$M/llama-bf16.gguf"
  fi
  [[ -f "$W/calib.txt" ]] || { head -c 400000 "$shared/data/corpus/python-code-train.txt";
                               head -c 200000 "$shared/data/corpus/python-docs-train.txt"; } >"$W/calib.txt"
  step "$W/logs/imatrix-llama.log" "$BIN/llama-imatrix" -m "$M/llama-bf16.gguf" -f "$W/calib.txt" --no-escape \
    -o "$W/imatrix-llama.gguf" -c "$CTX" --chunks "$IMATRIX_CHUNKS" -t "$THREADS"
  step "$W/logs/imatrix-glmq.log" "$GLMQ" imatrix --model "$HF" --data "$W/calib.txt" --out "$W/imatrix-glmq.gguf" \
    --ctx "$CTX" --chunks "$IMATRIX_CHUNKS" --threads "$THREADS"
  step "$W/logs/covariance-glmq.log" "$GLMQ" imatrix --model "$HF" --data "$W/calib.txt" --out "$W/imatrix-glmq-cov.gguf" \
    --covariance "$W/covariance-glmq.gguf" --ctx "$CTX" --chunks "$COV_CHUNKS" --threads "$THREADS"

  lq() {  # name ftype [llama-quantize options]
    local name="$1" ftype="$2"; shift 2
    [[ -f "$M/llama-$name.gguf" ]] && return 0
    step "$W/logs/quantize-llama-$name.log" "$BIN/llama-quantize" --imatrix "$W/imatrix-llama.gguf" "$@" \
      "$M/llama-bf16.gguf" "$M/llama-$name.part.gguf" "$ftype" "$THREADS"
    mv "$M/llama-$name.part.gguf" "$M/llama-$name.gguf"
  }
  lq q8_0 Q8_0
  lq q6_k Q6_K
  # Q4_K_M: llama-quantize's own (attn_k_b Q5_0) where this glmq loads Q5_0, else attn_k_b overridden to Q8_0.
  if [[ ! -f "$M/llama-q4_k_m.gguf" ]]; then
    lq q4_k_m-own Q4_K_M
    if "$GLMQ" bench --model "$M/llama-q4_k_m-own.gguf" --prompt-lengths 1 --gen 1 --threads 1 >"$W/logs/q5_0-check.log" 2>&1; then
      cp "$M/llama-q4_k_m-own.gguf" "$M/llama-q4_k_m.gguf"; echo own >"$W/q4_k_m.variant"
    else
      lq q4_k_m Q4_K_M --tensor-type 'attn_k_b=q8_0'; echo attn_k_b-q8_0 >"$W/q4_k_m.variant"
    fi
  fi
  lq iq4_nl IQ4_NL
  lq iq4_xs IQ4_XS
  lq iq2_s IQ2_M --pure
  lq seed IQ4_NL --pure --tensor-type 'ffn_(gate|up|down)_exps=iq2_s' --tensor-type 'indexer\.proj=f32' \
    --token-embedding-type iq4_nl --output-tensor-type iq4_nl

  for t in "${TYPES[@]}"; do
    [[ -f "$M/glmq-$t.gguf" ]] && continue
    mapfile -t rules < <(python3 "$here/bench/peer/gguf_info.py" rules "$M/llama-$t.gguf")
    args=()
    for r in "${rules[@]}"; do args+=(--tensor-type "$r"); done
    step "$W/logs/quantize-glmq-$t.log" "$GLMQ" quantize --format gguf --model "$HF" --out "$M/glmq-$t.part.gguf" \
      --type Q8_0 "${args[@]}" --imatrix "$W/imatrix-glmq.gguf" --covariance "$W/covariance-glmq.gguf" --threads "$THREADS"
    mv "$M/glmq-$t.part.gguf" "$M/glmq-$t.gguf"
    # The same tensor types as llama.cpp's file, or the table would compare different mixes.
    if ! diff <(python3 "$here/bench/peer/gguf_info.py" types "$M/llama-$t.gguf" | sort) \
              <(python3 "$here/bench/peer/gguf_info.py" types "$M/glmq-$t.gguf" | sort) >"$W/logs/types-$t.diff"; then
      log "WARNING: glmq-$t.gguf's tensor types differ from llama-$t.gguf's (logs/types-$t.diff)"
    fi
  done
  for recipe in mixed-3.5 uniform-4; do
    [[ -d "$M/glmq-mlx-$recipe" ]] && continue
    step "$W/logs/quantize-glmq-mlx-$recipe.log" "$GLMQ" quantize --model "$HF" --out "$M/glmq-mlx-$recipe.part" --recipe "$recipe"
    mv "$M/glmq-mlx-$recipe.part" "$M/glmq-mlx-$recipe"
  done
  if [[ ! -d "$M/mlxlm-mixed_3_6" ]]; then
    if python3 -c 'import mlx_lm' 2>/dev/null; then
      step "$W/logs/quantize-mlxlm-mixed_3_6.log" python3 "$here/bench/quality_mlxlm.py" "$HF" "$M/mlxlm-mixed_3_6.part" mixed_3_6 &&
        mv "$M/mlxlm-mixed_3_6.part" "$M/mlxlm-mixed_3_6"
    else
      echo "python mlx_lm is not importable here" >"$W/logs/mlxlm-missing.txt"
    fi
  fi
fi

# ----------------------------------------------------------------------------------------------------------- speed
# Per thread count, round and build: llama-bench (-p 512 -n 128 -r 1, its repacking where it does not
# abort, else --repack 0) then glmq bench (--prompt-lengths 512 --gen 1, and --prompt-lengths 1 --gen 128, each with
# its own warm-up); rounds interleave the engines; medians. glmq-made GGUFs have the same tensor types and sizes as
# llama.cpp's, so only the llama.cpp-made files are timed (by both engines), and the MLX builds by glmq.
if has_step speed; then
  code_of speed
  for thr in $SPEED_THREADS; do
  raw="$R/speed-t$thr.raw"
  : >"$raw"
  for ((round = 1; round <= ROUNDS; ++round)); do
    echo "load $round $(cut -d' ' -f1-3 /proc/loadavg)" >>"$raw"
    for b in llama-bf16 "${TYPES[@]/#/llama-}" "${MLX[@]}"; do
      model="$(path_of "$b")"
      [[ -e "$model" ]] || continue
      log "speed, $thr thread(s), round $round/$ROUNDS: $b"
      if [[ $b == llama-* ]]; then
        repack="$(cat "$R/repack.$b" 2>/dev/null || echo 1)"
        if ! out="$(nice -n "$NICE" "$BIN/llama-bench" -m "$model" -p 512 -n 128 -t "$thr" -r 1 --repack "$repack" -o csv 2>"$W/logs/llama-bench.err")"; then
          repack=0
          out="$(nice -n "$NICE" "$BIN/llama-bench" -m "$model" -p 512 -n 128 -t "$thr" -r 1 --repack 0 -o csv 2>"$W/logs/llama-bench.err")" || out=""
        fi
        echo "$repack" >"$R/repack.$b"
        python3 -c '
import csv, io, sys
for row in csv.DictReader(io.StringIO(sys.argv[2])):
    print(sys.argv[1], "llama", "pp" if row["n_prompt"] != "0" else "tg", row["avg_ts"])' "$b" "$out" >>"$raw"
      fi
      pp="$(nice -n "$NICE" "$GLMQ" bench --model "$model" --prompt-lengths 512 --gen 1 --threads "$thr" --json)" || pp=""
      tg="$(nice -n "$NICE" "$GLMQ" bench --model "$model" --prompt-lengths 1 --gen 128 --threads "$thr" --json)" || tg=""
      python3 -c '
import json, sys
b = sys.argv[1]
for test, text, key in (("pp", sys.argv[2], "prompt_tokens_per_second"), ("tg", sys.argv[3], "generation_tokens_per_second")):
    if text:
        print(b, "glmq", test, json.loads(text[text.find("{"):])["results"][0][key])' "$b" "$pp" "$tg" >>"$raw"
    done
  done
  echo "load end $(cut -d' ' -f1-3 /proc/loadavg)" >>"$raw"
  done
fi

# ------------------------------------------------------------------------------------------------------- synthetic
if has_step synthetic; then
  code_of synthetic
  if [[ ! -f "$SYNTH/synth-bf16.gguf" || ! -f "$SYNTH/synth-q4_k_m.gguf" ]]; then
    mkdir -p "$SYNTH"
    [[ -d "$SYNTH/hf" ]] || step "$SYNTH/make.log" python3 "$shared/models/make_synthetic.py" "$HF" "$SYNTH/hf"
    [[ -f "$SYNTH/synth-bf16.gguf" ]] || step "$SYNTH/conv.log" python3 "$here/tests/gguf/llama_convert.py" "$SRC" "$SYNTH/hf" "$SYNTH/synth-bf16.gguf" bf16
    [[ -f "$SYNTH/synth-q4_k_m.gguf" ]] || step "$SYNTH/quant.log" "$BIN/llama-quantize" --tensor-type 'attn_k_b=q8_0' \
      "$SYNTH/synth-bf16.gguf" "$SYNTH/synth-q4_k_m.gguf" Q4_K_M "$THREADS"
  fi
  rm -f "$R/synthetic.md"
  step "$R/synthetic.md" python3 "$here/bench/cpu_bandwidth.py" --glmq "$GLMQ" --probe "$PROBE" --models "$SYNTH" \
    --threads "$THREADS" --rounds "$ROUNDS" --nice "$NICE" --llama-bin "$BIN" --gguf-py "$SRC/gguf-py" || true
fi

# --------------------------------------------------------------------------------------------------------- quality
# Both engines' bf16 runs write their KLD base per text (llama-perplexity --kl-divergence-base, glmq ppl
# --save-logits); then every build is scored against its engine's base, llama-perplexity's method in both, the
# builds the issue's targets name first.
if has_step quality; then
  code_of quality
  lpp() { local text="$1"; shift; "$BIN/llama-perplexity" -f "${TEXT[$text]}" --no-escape --no-repack -c "$CTX" --chunks "$CHUNKS" -t "$THREADS" "$@"; }
  gpp() { local text="$1"; shift; "$GLMQ" ppl --data "${TEXT[$text]}" --method llama --ctx "$CTX" --chunks "$CHUNKS" --threads "$THREADS" "$@"; }
  for text in $QUALITY_TEXTS; do
    step "$R/llama-bf16.llama.$text.log" lpp "$text" -m "$M/llama-bf16.gguf" --kl-divergence-base "$K/llama-bf16-$text.kld"
    step "$R/llama-bf16.glmq.$text.log" gpp "$text" --model "$M/llama-bf16.gguf" --save-logits "$K/glmq-bf16-$text.lp"
  done
  # The exact arithmetic of each llama.cpp-made file, the yardstick of both engines' perplexities of it: HF
  # transformers in float32 for bf16 (hf_perplexity.py; skipped when transformers does not import), glmq's reference
  # kernels (every weight decoded to float32, float32 activations) for the quantized files.
  if python3 -c "import transformers, torch, tokenizers" 2>/dev/null; then
    for text in $QUALITY_TEXTS; do
      step "$R/llama-bf16.exact.$text.log" python3 "$here/bench/peer/hf_perplexity.py" "$HF" "${TEXT[$text]}" "$CTX" "$CHUNKS" || true
    done
  fi
  for t in seed iq4_nl q4_k_m q8_0 q6_k iq4_xs iq2_s; do
    for text in $QUALITY_TEXTS; do
      [[ -f "$M/llama-$t.gguf" ]] || continue
      step "$R/llama-$t.exact.$text.log" env GLMQ_CPU_KERNELS=reference "$GLMQ" ppl --data "${TEXT[$text]}" --method llama \
        --ctx "$CTX" --chunks "$CHUNKS" --threads "$THREADS" --model "$M/llama-$t.gguf" || true
    done
  done
  for t in seed iq4_nl q4_k_m q8_0 q6_k iq4_xs iq2_s; do
    for text in $QUALITY_TEXTS; do
      for maker in llama glmq; do
        b="$maker-$t"
        [[ -f "$M/$b.gguf" ]] || continue
        step "$R/$b.llama.$text.log" lpp "$text" -m "$M/$b.gguf" --kl-divergence --kl-divergence-base "$K/llama-bf16-$text.kld" || true
        step "$R/$b.glmq.$text.log" gpp "$text" --model "$M/$b.gguf" --kld-base "$K/glmq-bf16-$text.lp" || true
      done
    done
  done
  for b in "${MLX[@]}"; do
    [[ -d "$M/$b" ]] || continue
    for text in $QUALITY_TEXTS; do
      step "$R/$b.glmq.$text.log" gpp "$text" --model "$M/$b" --kld-base "$K/glmq-bf16-$text.lp" || true
    done
  done
fi

# ----------------------------------------------------------------------------------------------------------- table
if has_step table; then
  python3 "$here/bench/peer/table.py" --work "$W" --repo "$here" --glmq "$GLMQ" --ctx "$CTX" --chunks "$CHUNKS" \
    --imatrix-chunks "$IMATRIX_CHUNKS" --cov-chunks "$COV_CHUNKS" --rounds "$ROUNDS" --nice "$NICE" --threads "$THREADS" >"$here/bench/peer.md"
  log "wrote bench/peer.md"
fi
