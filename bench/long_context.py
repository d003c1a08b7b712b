"""Decode speed and memory of a model against context depth, per latent-cache setting (bench/long_context.md).

  python3 bench/long_context.py [--glmq build/glmq] [--model DIR] [--depths 1024,...,65536] [--kv 16,8]
                                [--gen 16] [--reps 5] [--threads N] [--label TEXT] [--raw FILE]

One process per cache setting: `glmq bench --depth D1,...,Dn --gen G --repetitions R --kv-bits K` prefills one
pseudo-random prompt up to each depth in turn (segment by segment), and at each depth times R runs of G decode steps
(median, slowest, fastest). Memory: the process's resident set at each depth (glmq reads /proc/self/statm), the latent
+ indexer cache at that depth (bytes per token × depth, as the cache reports it) and `glmq plan`'s estimate.
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
ap.add_argument("--glmq", default=os.path.join(root, "build", "glmq"))
ap.add_argument("--model", default=os.path.join(root, "models", "glm-mini-8bit"))
ap.add_argument("--depths", default="1024,2048,4096,8192,16384,32768,65536")
ap.add_argument("--kv", default="16,8")
ap.add_argument("--gen", type=int, default=16)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--threads", default=str(os.cpu_count()))
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
    cmd = [a.glmq, "bench", "--model", a.model, "--depth", a.depths, "--gen", str(a.gen), "--repetitions",
           str(a.reps), "--threads", a.threads, "--kv-bits", kv, "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"kv {kv}: failed\n{r.stderr[-2000:]}", file=sys.stderr)
        continue
    doc = json.loads(r.stdout[r.stdout.index("{"):])
    if a.raw:
        with open(a.raw, "a") as f:
            f.write(json.dumps(doc) + "\n")
    for res in doc["results"]:
        rows.append((doc["kv_cache"], res, doc["weight_bytes"], plan_gb(res["depth"], kv)))
        print(f"kv {kv} depth {res['depth']}: {res['decode_tokens_per_second_median']:.2f} tokens/s, "
              f"RSS {res['rss_bytes_at_depth'] / 2**20:.0f} MiB, prefill {res['prefill_seconds']:.1f} s", file=sys.stderr)

print(f"`glmq bench --model M --depth {a.depths} --gen {a.gen} --repetitions {a.reps} --threads {a.threads} "
      f"--kv-bits K`, one process per cache:\n")
print("| cache | depth | decode tokens/s (median; slowest–fastest) | ms per decoded token | prefill tokens/s (segment) "
      "| cache at depth (MiB) | RSS at depth (MiB) | RSS − weights (MiB) | `glmq plan` total (GB) |")
print("|---|---|---|---|---|---|---|---|---|")
for desc, res, wbytes, plan in rows:
    med = res['decode_tokens_per_second_median']
    print(f"| {desc} | {res['depth']} | {med:.2f} ({res['decode_tokens_per_second_min']:.2f}–"
          f"{res['decode_tokens_per_second_max']:.2f}) | {1000 / med:.2f} | {res['prefill_tokens_per_second']:.1f} | "
          f"{res['cache_bytes_at_depth'] / 2**20:.1f} | {res['rss_bytes_at_depth'] / 2**20:.1f} | "
          f"{(res['rss_bytes_at_depth'] - wbytes) / 2**20:.1f} | {plan:.2f} |")
print(f"\nload average at end {os.getloadavg()[0]:.1f}")
