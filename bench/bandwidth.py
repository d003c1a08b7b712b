"""Decode bandwidth of glm-mini builds against the machine's measured read bandwidth (bench/bandwidth.md).

  python3 bench/bandwidth.py [--glmq build-meas/glmq] [--probe build-meas/bench/bandwidth/bench_read_bandwidth]
                             [--work /work/meas_models] [--threads 1,2] [--reps 7] [--label TEXT]

1. bench_read_bandwidth (bench/bandwidth/read_bandwidth.cpp): read-only sum over 16, 48 and 2048 MiB buffers with
   1 and 2 threads (2 GiB is far beyond the L3; 16/48 MiB are the size of glm-mini's builds, which do fit in it).
2. For each build of glm-mini that exists (bf16 as shipped; the glmq and mlx-lm builds bench/quality.sh made under
   WORK/glm-mini; missing glmq presets are made with glmq quantize): `glmq bench --depth 128 --gen 32
   --repetitions R` (one prefill of 128 tokens, then R timed runs of 32 decode steps; median tokens/s) per thread
   count, and GB/s = bytes × tokens/s, both for all weight bytes and for the bytes one token must read
   (bench/bandwidth/weights_read.py: one embedding row, top-k of the routed experts).
Prints markdown tables; about 10 minutes on a quiet 2-core machine.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
ap = argparse.ArgumentParser()
ap.add_argument("--glmq", default=os.path.join(root, "build-meas", "glmq"))
ap.add_argument("--probe", default=None)
ap.add_argument("--work", default="/work/meas_models")
ap.add_argument("--shared", default=os.path.join(root, "..", "shared"))
ap.add_argument("--threads", default="1,2")
ap.add_argument("--reps", type=int, default=7)
ap.add_argument("--label", default=None, help="what code was measured (default: git commit of this checkout)")
ap.add_argument("--builds", default="bf16,uniform-8,uniform-6,uniform-4,uniform-3,mixed-3.5,mixed_2_6,mixed_3_6,"
                                    "mlxlm-q4,mlxlm-mixed_3_6")
ap.add_argument("--skip-probe", action="store_true")
a = ap.parse_args()
probe = a.probe or os.path.join(os.path.dirname(a.glmq), "bench", "bandwidth", "bench_read_bandwidth")
label = a.label or subprocess.run(["git", "-C", root, "describe", "--always", "--dirty"], capture_output=True,
                                  text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
print(f"{datetime.date.today()}, {cpu}, {os.cpu_count()} CPUs, code {label}, load average at start "
      f"{os.getloadavg()[0]:.1f}\n")

if not a.skip_probe:
    out = subprocess.run([probe, "--threads", a.threads, "--sizes-mib", "16,48,2048", "--reps", "15"],
                         capture_output=True, text=True, check=True).stdout
    print("Read bandwidth (bench_read_bandwidth):\n")
    print(out)

hf = os.path.join(a.shared, "models", "glm-mini")
# Weights (not bytes) one token reads: the same for every build of the model, counted on the bf16 one.
params_read = json.loads(subprocess.run([sys.executable, os.path.join(here, "bandwidth", "weights_read.py"), hf],
                                        capture_output=True, text=True, check=True).stdout)["read_per_token_params"]
rows = []
for b in a.builds.split(","):
    if b == "bf16":
        d = hf
    elif b.startswith("mlxlm-"):
        d = os.path.join(a.work, "glm-mini", b)
    else:
        d = os.path.join(a.work, "glm-mini", "glmq-" + b)
        if not os.path.exists(os.path.join(d, "config.json")):
            subprocess.run([a.glmq, "quantize", "--model", hf, "--out", d, "--recipe", b], check=True,
                           capture_output=True)
    if not os.path.exists(os.path.join(d, "config.json")):
        print(f"(no build {b} at {d}; skipped)", file=sys.stderr)
        continue
    w = json.loads(subprocess.run([sys.executable, os.path.join(here, "bandwidth", "weights_read.py"), d],
                                  capture_output=True, text=True, check=True).stdout)
    for t in a.threads.split(","):
        r = subprocess.run([a.glmq, "bench", "--model", d, "--depth", "128", "--gen", "32", "--repetitions",
                            str(a.reps), "--threads", t, "--kv-bits", "16", "--json"],
                           capture_output=True, text=True, check=True)
        doc = json.loads(r.stdout[r.stdout.index("{"):])
        res = doc["results"][0]
        tps = res["decode_tokens_per_second_median"]
        rows.append((b, t, w["total_bytes"], w["read_per_token_bytes"], tps, res["decode_tokens_per_second_min"],
                     res["decode_tokens_per_second_max"]))
        print(f"{b} threads {t}: {tps:.1f} tokens/s", file=sys.stderr)

print("Decode at depth 128 (`glmq bench --depth 128 --gen 32 --repetitions %d`, 16-bit cache):\n" % a.reps)
print(f"Weights one token reads: {params_read / 1e6:.2f} M (of every build).\n")
print("| build | threads | weights (MB) | read per token (MB) | decode tokens/s (median; slowest–fastest) "
      "| GB/s, all weights × tokens/s | GB/s, bytes read per token × tokens/s (fastest run) "
      "| G weights/s (median) |")
print("|---|---|---|---|---|---|---|---|")
for b, t, total, read, tps, lo, hi in rows:
    print(f"| {b} | {t} | {total / 1e6:.1f} | {read / 1e6:.1f} | {tps:.1f} ({lo:.1f}–{hi:.1f}) | "
          f"{total * tps / 1e9:.2f} | {read * tps / 1e9:.2f} ({read * hi / 1e9:.2f}) | {params_read * tps / 1e9:.2f} |")
print(f"\nload average at end {os.getloadavg()[0]:.1f}")
