"""Decode speed and memory of glm-mini against context depth, 16-bit and 8-bit latent cache (bench/long_context.md).

  python3 bench/long_context.py [--glmq build-meas/glmq] [--depths 1024,...,65536] [--kv 16,8] [--gen 16]
                                [--reps 5] [--threads 1] [--label TEXT]

One process per (cache, depth) under /usr/bin/time -v: `glmq bench --depth N --gen G --repetitions R --kv-bits K`
prefills N pseudo-random tokens once, then times R runs of G decode steps from depth N (median, slowest, fastest).
Memory: the process's peak RSS (/usr/bin/time's maximum resident set, which is also glmq's getrusage figure), the
latent + indexer cache at depth N (bytes per token × N, as the cache reports it) and `glmq plan`'s estimate.
Depths of 32K and 64K prefill for many minutes on one thread (the lightning indexer scores every earlier token):
on a quiet core the whole run takes about an hour.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
ap = argparse.ArgumentParser()
ap.add_argument("--glmq", default=os.path.join(root, "build-meas", "glmq"))
ap.add_argument("--model", default=os.path.join(root, "..", "shared", "models", "glm-mini"))
ap.add_argument("--depths", default="1024,2048,4096,8192,16384,32768,65536")
ap.add_argument("--kv", default="16,8")
ap.add_argument("--gen", type=int, default=16)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--threads", default="1")
ap.add_argument("--label", default=None)
ap.add_argument("--raw", default=None, help="also append each run's JSON to this file")
a = ap.parse_args()
label = a.label or subprocess.run(["git", "-C", root, "describe", "--always", "--dirty"], capture_output=True,
                                  text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"{datetime.date.today()}, {cpu}, {os.cpu_count()} CPUs, code {label}, {a.threads} thread(s), "
      f"load average at start {os.getloadavg()[0]:.1f}\n")


def plan_gb(depth, kv):
    out = subprocess.run([a.glmq, "plan", "--model", a.model, "--ctx", str(depth), "--kv-bits", kv],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"total: ([\d.]+) GB", out)
    return float(m.group(1)) if m else float("nan")


rows = []
for kv in a.kv.split(","):
    for depth in [int(x) for x in a.depths.split(",")]:
        cmd = ["/usr/bin/time", "-v", a.glmq, "bench", "--model", a.model, "--depth", str(depth), "--gen", str(a.gen),
               "--repetitions", str(a.reps), "--threads", a.threads, "--kv-bits", kv, "--json"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"kv {kv} depth {depth}: failed\n{r.stderr[-2000:]}", file=sys.stderr)
            continue
        doc = json.loads(r.stdout[r.stdout.index("{"):])
        if a.raw:
            with open(a.raw, "a") as f:
                f.write(json.dumps(doc) + "\n")
        res = doc["results"][0]
        rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) * 1024
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", r.stderr).group(1)
        user = float(re.search(r"User time \(seconds\): ([\d.]+)", r.stderr).group(1))
        rows.append((kv, depth, doc["kv_cache"], res, doc["weight_bytes"], rss, plan_gb(depth, kv), wall, user))
        print(f"kv {kv} depth {depth}: {res['decode_tokens_per_second_median']:.2f} tokens/s, RSS {rss / 2**20:.0f} MiB,"
              f" prefill {res['prefill_seconds']:.0f} s, wall {wall}", file=sys.stderr)

print(f"`glmq bench --depth N --gen {a.gen} --repetitions {a.reps} --threads {a.threads} --kv-bits K`, one process "
      f"per row:\n")
print("| cache | depth | decode tokens/s (median; slowest–fastest) | prefill tokens/s | cache at depth (MiB) "
      "| peak RSS (MiB) | peak RSS − weights (MiB) | `glmq plan` total (GB) | wall (user CPU s) |")
print("|---|---|---|---|---|---|---|---|---|")
for kv, depth, desc, res, wbytes, rss, plan, wall, user in rows:
    print(f"| {desc} | {depth} | {res['decode_tokens_per_second_median']:.2f} "
          f"({res['decode_tokens_per_second_min']:.2f}–{res['decode_tokens_per_second_max']:.2f}) | "
          f"{depth / res['prefill_seconds']:.1f} | {res['cache_bytes_at_depth'] / 2**20:.1f} | {rss / 2**20:.1f} | "
          f"{(rss - wbytes) / 2**20:.1f} | {plan:.2f} | {wall} ({user:.0f}) |")
print(f"\nload average at end {os.getloadavg()[0]:.1f}")
