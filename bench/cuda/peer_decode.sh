#!/usr/bin/env bash
# Per-layer decode at GLM-5.2's shapes, IQ2_S experts / IQ4_NL rest, glmq against llama.cpp's CUDA build in one run
# on one GPU (issue 6). glmq: bench_cuda_decode_layer CONTEXT 0 iq2s-iq4nl (its own synthetic layers, CUDA graph).
# llama.cpp: llama-bench -ngl 99 on GGUFs of 2 and 4 such layers (glm52_gguf.py), tg at depth CONTEXT; the per-layer
# time is the difference of the two models' time per token divided by 2 (embedding, head and per-token host work
# cancel), as glmq's bench computes its own.
#
#   bench/cuda/peer_decode.sh LLAMA_BENCH VOCAB.json GLMQ_BENCH [CONTEXT=4096] [WORK=/tmp/glm52] [REPS=3]
#
# VOCAB.json: `glm52_gguf.py --vocab-from glm-small.gguf VOCAB.json`. Needs ~20 GB of disk in WORK.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
llama_bench="$1" vocab="$2" glmq_bench="$3" ctx="${4:-4096}" work="${5:-/tmp/glm52}" reps="${6:-3}"
mkdir -p "$work"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
date -u

echo "== glmq: $glmq_bench $ctx 0 iq2s-iq4nl"
"$glmq_bench" "$ctx" 0 iq2s-iq4nl | tee "$work/glmq.txt"

declare -A tps
for layers in 2 4; do
  f="$work/glm52-${layers}l.gguf"
  [[ -f $f ]] || python3 "$here/glm52_gguf.py" "$f" "$layers" "$vocab"
  for fa in 1 0; do
    echo "== llama.cpp: $layers layers, flash attention $fa"
    out="$("$llama_bench" -m "$f" -ngl 99 -fa "$fa" -p 0 -n 32 -d "$ctx" -r "$reps" -o csv 2>"$work/llama-$layers-$fa.err")" ||
      { echo "llama-bench failed:"; tail -20 "$work/llama-$layers-$fa.err"; continue; }
    echo "$out" | tail -n +2
    tps[$layers,$fa]="$(python3 -c '
import csv, io, sys
rows = [r for r in csv.DictReader(io.StringIO(sys.argv[1])) if r["n_gen"] != "0"]
print(rows[-1]["avg_ts"])' "$out")"
  done
done

bytes="$(sed -n 's/.*bytes read per layer[^0-9]*\([0-9.]*\) MB.*/\1/p' "$work/glmq.txt" | head -1)"
copy="$(sed -n 's/.*copy[^0-9]*\([0-9.]*\) GB\/s.*/\1/p' "$work/glmq.txt" | head -1)"
echo "== per layer, context $ctx (bytes per layer from glmq's count: ${bytes:-?} MB; copy ${copy:-?} GB/s)"
for fa in 1 0; do
  [[ -n "${tps[2,$fa]:-}" && -n "${tps[4,$fa]:-}" ]] || continue
  python3 -c '
import sys
t2, t4, fa = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
mb = float(sys.argv[4]) if sys.argv[4] else None
copy = float(sys.argv[5]) if sys.argv[5] else None
us = (1 / t4 - 1 / t2) / 2 * 1e6
line = "llama.cpp (flash attention %s): %.1f tokens/s with 2 layers, %.1f with 4 -> %.1f us per layer, %.1f tokens/s for 78 layers" % (
    fa, t2, t4, us, 1e6 / (78 * us))
if mb:
    gbs = mb * 1e6 / (us * 1e-6) / 1e9
    line += ", %.0f GB/s" % gbs + (", %.0f%% of copy" % (100 * gbs / copy) if copy else "")
print(line)' "${tps[2,$fa]}" "${tps[4,$fa]}" "$fa" "$bytes" "$copy"
done
