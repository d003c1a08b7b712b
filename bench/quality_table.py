"""Print bench/quality.md's tables from the logs bench/quality.sh leaves in WORK/MODEL/logs.

Usage: quality_table.py WORK_MODEL_DIR HF_MODEL_DIR BUILD...
Size = the build's *.safetensors files (10^6 bytes); bits/weight = their tensor bytes (headers excluded) × 8 over
the bf16 model's parameter count. A GGUF build (gguf-TYPE[-imatrix], one .gguf file): size = the file, tensor bytes =
the total of `glmq quantize`'s size table (its make log), whose fallback lines are listed under the table.
"""
import collections
import glob
import json
import os
import re
import struct
import sys

work, hf, builds = sys.argv[1], sys.argv[2], sys.argv[3:]
if "bf16" not in builds:
    builds = ["bf16"] + builds


def tensor_bytes_and_params(directory):
    total_file, total_data, params = 0, 0, 0
    for f in sorted(glob.glob(os.path.join(directory, "*.safetensors"))):
        size = os.path.getsize(f)
        with open(f, "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            header = json.loads(fh.read(n))
        total_file += size
        total_data += size - 8 - n
        for name, t in header.items():
            if name != "__metadata__":
                p = 1
                for d in t["shape"]:
                    p *= d
                params += p
    return total_file, total_data, params


_, _, base_params = tensor_bytes_and_params(hf)


def read(path):
    return open(path).read() if os.path.exists(path) else None


def ppl(log):
    m = re.search(r"\| (\d+) predictions \| PPL ([\d.]+) ± ([\d.]+) \|.* in ([\d.]+) s", log or "")
    return (m.group(2), m.group(3)) if m else None


def kld(log):
    if not log or "Mean KLD" not in log:
        return None
    g = lambda key: re.search(re.escape(key) + r"\s*:\s*([-\d.]+)(?: ± ([\d.]+))?", log)
    return {"mean": g("Mean KLD").group(1), "mean_se": g("Mean KLD").group(2), "p99": g("99.0% KLD").group(1),
            "top": g("Same top p").group(1), "top_se": g("Same top p").group(2)}


def tasks(log):
    out = {}
    for m in re.finditer(r"^\| (\w+) \| (\d+) \| ([\d.]+) ± ([\d.]+) \| (?:([\d.]+) ± ([\d.]+)|—) \|", log or "", re.M):
        out[m.group(1)] = {"docs": m.group(2), "acc": (m.group(3), m.group(4)),
                           "acc_norm": (m.group(5), m.group(6)) if m.group(5) else None}
    return out


def wall(log):
    m = re.search(r"wall_seconds (\d+)", log or "")
    return int(m.group(1)) if m else None


names = {
    "bf16": "bf16 (as shipped; float32 compute, float32 cache)",
    "mlxlm-q4": "mlx-lm `convert -q --q-bits 4 --q-group-size 64`",
    "mlxlm-mixed_3_6": "mlx-lm `convert --quant-predicate mixed_3_6`",
    "kv16": "bf16, cache `--kv-bits 16`",
    "kv8r8": "bf16, cache `--kv-bits 8 --kv-rope-bits 8`",
    "kv8": "bf16, cache `--kv-bits 8` (rope 16)",
    "kv4": "bf16, cache `--kv-bits 4` (rope 16)",
}


def gguf_label(b):
    t = b[len("gguf-"):]
    return f"glmq GGUF `{t[:-len('-imatrix')]}` (imatrix: python-code-train)" if t.endswith("-imatrix") else f"glmq GGUF `{t}`"

# WikiText-2 columns appear when the bf16 base was measured on it (TEXTS="docs code wiki").
with_wiki = os.path.exists(os.path.join(work, "logs", "bf16.wiki.log"))
# ... and its KL divergence column when some build's wiki run had the bf16 log-probabilities to compare with.
with_wiki_kld = any(kld(read(f)) for f in glob.glob(os.path.join(work, "logs", "*.wiki.log")))
rows, times, notes = [], [], []
for b in builds:
    if b.startswith("gguf-"):
        d = os.path.join(work, b + ".gguf")
        if not os.path.isfile(d):
            continue
    else:
        d = {"bf16": hf, "mlxlm-q4": os.path.join(work, "mlxlm-q4"),
             "mlxlm-mixed_3_6": os.path.join(work, "mlxlm-mixed_3_6")}.get(b, hf if b.startswith("kv") else
                                                                           os.path.join(work, "glmq-" + b))
        if not os.path.isdir(d):
            continue
    src = b  # whose measurement logs give the numbers
    compare = read(os.path.join(work, "logs", f"{b}.compare.log"))
    if compare and compare.startswith("identical"):
        src = "mixed_3_6" if b == "mlxlm-mixed_3_6" else "uniform-4"
        checks = [ppl(read(os.path.join(work, "logs", f"{b}.check-{x}.log"))) for x in (b, "glmq-" + src)]
        notes.append(f"`{b}`: its {compare.split()[1]} tensors equal glmq `{src}`'s bit for bit, so its row repeats "
                     f"that build's numbers; check, python-code's first 20,000 bytes: PPL "
                     f"{checks[0][0] if checks[0] else '–'} (mlx-lm folder) vs {checks[1][0] if checks[1] else '–'}"
                     f" (glmq folder)")
    logs = {k: read(os.path.join(work, "logs", f"{src}.{k}.log")) for k in ("docs", "code", "wiki", "eval")}
    logs["make"] = read(os.path.join(work, "logs", f"{b}.make.log"))
    if b.startswith("gguf-"):
        size = os.path.getsize(d)
        m = re.search(r"^total\s+\d+\s+\d+\s+(\d+)\s", logs["make"] or "", re.M)
        data = int(m.group(1)) if m else float("nan")
        # "fallback NAME: A -> B (why)", summarised per type change: one line per build, not per tensor.
        changes = collections.Counter(re.findall(r"^fallback \S+: (\S+ -> \S+)", logs["make"] or "", re.M))
        if changes:
            notes.append(f"`{b}`: llama-quantize's fallbacks, " +
                         ", ".join(f"{n} tensors {c}" for c, n in sorted(changes.items())))
    else:
        size, data, _ = tensor_bytes_and_params(d)
    docs, code, wiki, ev = ppl(logs["docs"]), ppl(logs["code"]), ppl(logs["wiki"]), tasks(logs["eval"])
    kc, kd, kw = kld(logs["code"]), kld(logs["docs"]), kld(logs["wiki"])
    fmt_ppl = lambda p: f"{float(p[0]):.4f} ± {float(p[1]):.4f}" if p else "–"
    if b == "bf16":
        kcol = ["0 (base)", "0 (base)", "100% (base)", "0 (base)"] + (["0 (base)"] if with_wiki_kld else [])
    else:
        kcol = [f"{float(kc['mean']):.5f} ± {float(kc['mean_se']):.5f}" if kc else "–",
                f"{float(kc['p99']):.4f}" if kc else "–",
                f"{float(kc['top']):.2f}%" if kc else "–",
                f"{float(kd['mean']):.5f}" if kd else "–"] + ([f"{float(kw['mean']):.5f}" if kw else "–"] if with_wiki_kld else [])
    acc = lambda t, k: (f"{float(ev[t][k][0]):.3f}" if t in ev and ev[t][k] else "–")
    label = names.get(b, gguf_label(b) if b.startswith("gguf-") else f"glmq MLX `{b}`") + (f" (= glmq `{src}`)" if src != b else "")
    if b.startswith("kv"):
        size_col, bpw = "(as bf16)", "16"
    else:
        size_col, bpw = f"{size / 1e6:.1f}", f"{8 * data / base_params:.2f}"
    wiki_col = f"{fmt_ppl(wiki)} | " if with_wiki else ""
    rows.append(f"| {label} | {size_col} | {bpw} | {fmt_ppl(docs)} | {fmt_ppl(code)} | {wiki_col}" + " | ".join(kcol) +
                f" | {acc('hellaswag', 'acc_norm')} | {acc('piqa', 'acc')} | {acc('winogrande', 'acc')} |")
    if src == b:
        steps = ("make", "docs", "code") + (("wiki",) if with_wiki else ()) + ("eval",)
        times.append(f"| {b} | " + " | ".join("–" if wall(logs[k]) is None else str(wall(logs[k])) for k in steps) + " |")

limit = next((t["docs"] for b in builds for t in tasks(read(os.path.join(work, "logs", f"{b}.eval.log"))).values()),
             "?")
print(f"{base_params:,} parameters; tasks: first {limit} documents each\n")
print("| build | size (MB) | bits/weight | python-docs ppl | python-code ppl | " + ("WikiText-2 ppl | " if with_wiki else "") +
      "KLD vs bf16, code (mean) | KLD 99th pct, code | same top-1, code | KLD vs bf16, docs (mean) | " +
      ("KLD vs bf16, wiki (mean) | " if with_wiki_kld else "") + "HellaSwag acc_norm | PIQA acc | WinoGrande acc |")
print("|---" * (12 + with_wiki + with_wiki_kld) + "|")
print("\n".join(rows))
for n in notes:
    print("\n- " + n)
print("\nWall seconds per step (make = quantize):\n")
print("| build | make | docs ppl | code ppl | " + ("wiki ppl | " if with_wiki else "") + "eval |\n" + "|---" * (5 + with_wiki) + "|")
print("\n".join(times))
