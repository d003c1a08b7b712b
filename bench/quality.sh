#!/usr/bin/env bash
# Regenerates the numbers of bench/quality.md: for each model and build, strided perplexity of the python-docs and
# python-code test texts (and WikiText-2's, with TEXTS) (ctx 512, stride 256, as MODEL.md), KL divergence and top-1 agreement against the bf16
# build on both texts, and zero-shot HellaSwag / PIQA / WinoGrande (first LIMIT documents each).
#
#   GLMQ=build-meas/glmq bench/quality.sh        # glm-mini, every build: 5+ h at --threads 1 (~20-40 min a build)
#   MODELS="glm-mini glm-small" BUILDS="bf16 uniform-4 mixed-3.5" bench/quality.sh
#   GLMQ=build-cuda/glmq DEVICE=cuda bench/quality.sh  # measurements on the GPU (minutes instead of hours)
#
# Builds: bf16 (as shipped), glmq presets (glmq quantize --recipe NAME), mlxlm-q4 / mlxlm-mixed_3_6 (mlx_lm.convert,
# see quality_mlxlm.py), gguf-TYPE (glmq quantize --format gguf --type TYPE) and gguf-TYPE-imatrix (the same with
# an importance matrix from `glmq imatrix` over the first IMATRIX_CHUNKS 512-token chunks of python-code-train),
# and kv16 / kv8r8 / kv8 / kv4: the bf16 weights with a 16-bit / 8-bit (rope 8) / 8-bit
# (rope 16, the default) / 4-bit (rope 16) latent cache. Every weight build runs with the float32 cache
# (--kv-bits 32), so its KL divergence is the weights' alone; the kv builds differ from bf16 only in the cache.
# An mlx-lm build whose tensors equal those of the matching glmq preset (uniform-4, mixed_3_6) bit for bit
# (quality_compare.py) gets only a short check — perplexity of the first 20,000 bytes of python-code with both —
# and the preset's numbers; one that differs is measured in full.
# Steps already done (their log exists) are skipped, so an interrupted run resumes; delete $WORK/MODEL/logs to
# start over. TEXTS (default "docs code"; "wiki" adds WikiText-2's test text, whose saved bf16 log-probabilities take
# ~8 GB for glm-mini; KLD_TEXTS="docs code" measures its perplexity only) and EVAL (default 1; 0 skips the tasks) narrow the steps, e.g. for the kv
# builds (TEXTS="" BUILDS=bf16 runs only the bf16 tasks); MAKE_ONLY=1 only makes the builds. Several invocations
# may share one WORK when their BUILDS lists are disjoint: one whose BUILDS lacks bf16 skips the bf16 base once
# bf16's docs and code logs (so its .lp files) exist. The table is printed at the end (bench/quality_table.py).
set -euo pipefail
cd "$(dirname "$0")/.."
GLMQ=${GLMQ:-build-meas/glmq}
SHARED=${SHARED:-../shared}
WORK=${WORK:-/work/meas_models}
THREADS=${THREADS:-1}
DEVICE=${DEVICE:-cpu}  # --device of ppl and eval: cuda runs the measurements on the GPU (quantizing stays on the CPU)
# On the GPU the float32 kernels (--cuda-exact): the task scores prefill short continuations, which would otherwise take
# the int8 decode kernels; the table measures the weights, not the int8 activation rounding.
device=(--device "$DEVICE")
[[ $DEVICE == cuda ]] && device+=(--cuda-exact)
LIMIT=${LIMIT:-500}
TEXTS=${TEXTS-"docs code"}
EVAL=${EVAL:-1}
KLD_TEXTS=${KLD_TEXTS-"docs code wiki"}  # texts whose KL divergence against bf16 is computed (bf16 saves its log-probabilities)
IMATRIX_CHUNKS=${IMATRIX_CHUNKS:-100}
MODELS=${MODELS:-glm-mini}
BUILDS=${BUILDS:-"bf16 uniform-8 uniform-6 uniform-5 uniform-4 uniform-3 uniform-2 mixed-3.5 mixed_2_6 mixed_3_6 mlxlm-q4
  mlxlm-mixed_3_6 gguf-Q8_0 gguf-IQ4_NL-imatrix kv16 kv8r8 kv8 kv4"}
DOCS=$SHARED/data/corpus/python-docs-test.txt
CODE=$SHARED/data/corpus/python-code-test.txt
WIKI=$SHARED/data/wikitext-2-raw/wiki.test.raw

# step LOG command...: runs the command unless LOG exists; the log gets the command, its output and wall time.
step() {
  local log=$1
  shift
  [[ -s $log ]] && return 0
  local t0=$SECONDS
  echo "+ $*" >"$log.tmp"
  "$@" >>"$log.tmp" 2>&1
  echo "wall_seconds $((SECONDS - t0))" >>"$log.tmp"
  mv "$log.tmp" "$log"
  echo "$(date +%T) $(basename "$log") $((SECONDS - t0)) s" >&2
}

for M in $MODELS; do
  HF=$SHARED/models/$M
  W=$WORK/$M
  mkdir -p "$W/logs"
  head -c 20000 "$CODE" >"$W/code-head.txt"
  # The bf16 base first: its saved log-probabilities are every other build's KLD reference.
  for B in bf16 $BUILDS; do
    [[ $B == bf16 && $BUILDS != *bf16* && ( -s $W/logs/bf16.eval.log ||
      ( -s $W/logs/bf16.docs.log && -s $W/logs/bf16.code.log ) ) ]] && continue
    kv=(--kv-bits 32)
    dir=$HF
    case $B in
      bf16) ;;
      kv16) kv=(--kv-bits 16) ;;
      kv8r8) kv=(--kv-bits 8 --kv-rope-bits 8) ;;
      kv8) kv=(--kv-bits 8) ;;
      kv4) kv=(--kv-bits 4) ;;
      mlxlm-q4 | mlxlm-mixed_3_6)
        dir=$W/$B
        [[ -s $dir/config.json ]] || step "$W/logs/$B.make.log" python3 bench/quality_mlxlm.py "$HF" "$dir" "${B#mlxlm-}"
        twin=uniform-4
        [[ $B == mlxlm-mixed_3_6 ]] && twin=mixed_3_6
        [[ -s $W/glmq-$twin/config.json ]] || step "$W/logs/$twin.make.log" "$GLMQ" quantize --model "$HF" \
          --out "$W/glmq-$twin" --recipe "$twin"
        if python3 bench/quality_compare.py "$dir" "$W/glmq-$twin" >"$W/logs/$B.compare.log" 2>&1; then
          for d in "$dir" "$W/glmq-$twin"; do
            step "$W/logs/$B.check-$(basename "$d").log" "$GLMQ" ppl --model "$d" --data "$W/code-head.txt" \
              --ctx 512 --stride 256 --threads "$THREADS" "${kv[@]}"
          done
          continue
        fi
        ;;
      gguf-*)
        type=${B#gguf-}
        imat=()
        if [[ $type == *-imatrix ]]; then
          type=${type%-imatrix}
          [[ -s $W/imatrix-code.gguf ]] || step "$W/logs/imatrix.make.log" "$GLMQ" imatrix --model "$HF" \
            --data "$SHARED/data/corpus/python-code-train.txt" --out "$W/imatrix-code.gguf" --ctx 512 \
            --chunks "$IMATRIX_CHUNKS" --threads "$THREADS"
          imat=(--imatrix "$W/imatrix-code.gguf")
        fi
        dir=$W/$B.gguf
        [[ -s $dir ]] || step "$W/logs/$B.make.log" "$GLMQ" quantize --model "$HF" --out "$dir" --format gguf \
          --type "$type" "${imat[@]}" --threads "$THREADS"
        ;;
      *)
        dir=$W/glmq-$B
        [[ -s $dir/config.json ]] || step "$W/logs/$B.make.log" "$GLMQ" quantize --model "$HF" --out "$dir" --recipe "$B"
        ;;
    esac
    [[ ${MAKE_ONLY:-0} == 1 ]] && continue
    for text in $TEXTS; do
      data=$DOCS
      [[ $text == code ]] && data=$CODE
      [[ $text == wiki ]] && data=$WIKI
      lp=()
      if [[ " $KLD_TEXTS " != *" $text "* ]]; then
        :
      elif [[ $B == bf16 ]]; then
        lp=(--save-logits "$W/bf16-$text.lp")
      else
        lp=(--kld-base "$W/bf16-$text.lp")
      fi
      step "$W/logs/$B.$text.log" "$GLMQ" ppl --model "$dir" --data "$data" --ctx 512 --stride 256 \
        --threads "$THREADS" "${device[@]}" "${kv[@]}" "${lp[@]}"
    done
    [[ $EVAL == 1 ]] || continue
    step "$W/logs/$B.eval.log" "$GLMQ" eval --model "$dir" --tasks hellaswag,piqa,winogrande --limit "$LIMIT" \
      --data-dir "$SHARED/data" --threads "$THREADS" "${device[@]}" "${kv[@]}"
  done
  python3 bench/quality_table.py "$W" "$HF" $BUILDS
done
