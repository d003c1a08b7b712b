"""Weight bytes of a model directory, and the bytes one decoded token must read (bench/bandwidth.md).

Usage: weights_read.py MODEL_DIR   → prints JSON {"total_bytes", "read_per_token_bytes", "read_per_token_params",
"parts"}; read_per_token_params (weights, not bytes) is meaningful for an unquantized model only.

Per token a decode step reads every weight once, except: the embedding table (one row of it), the routed experts
(num_experts_per_tok of n_routed_experts per MoE layer: HF `mlp.experts.N.*` or MLX stacked `mlp.switch_mlp.*`) and
the MTP layer (not run by plain decoding). Quantized tensors count their packed words, scales and biases.
"""
import glob
import json
import os
import re
import struct
import sys

d = sys.argv[1]
cfg = json.load(open(os.path.join(d, "config.json")))
vocab = cfg["vocab_size"]
expert_share = cfg["num_experts_per_tok"] / cfg["n_routed_experts"]
mtp_first = cfg["num_hidden_layers"]  # MTP layers are numbered from num_hidden_layers on
parts = {"embedding (1 row)": 0.0, "routed experts (top-k share)": 0.0, "everything else": 0.0, "mtp (not read)": 0.0}
total = 0
params = 0.0
for f in sorted(glob.glob(os.path.join(d, "*.safetensors"))):
    with open(f, "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        header = json.loads(fh.read(n))
    for name, t in header.items():
        if name == "__metadata__":
            continue
        size = t["data_offsets"][1] - t["data_offsets"][0]
        total += size
        elems = 1
        for dim in t["shape"]:
            elems *= dim
        share = 1.0
        m = re.match(r"model\.layers\.(\d+)\.", name)
        if m and int(m.group(1)) >= mtp_first:
            parts["mtp (not read)"] += size
            share = 0.0
        elif "embed_tokens" in name:
            parts["embedding (1 row)"] += size / vocab
            share = 1.0 / vocab
        elif ".mlp.experts." in name or ".mlp.switch_mlp." in name:
            parts["routed experts (top-k share)"] += size * expert_share
            share = expert_share
        else:
            parts["everything else"] += size
        params += elems * share
read = sum(v for k, v in parts.items() if k != "mtp (not read)")
print(json.dumps({"total_bytes": total, "read_per_token_bytes": read, "read_per_token_params": params, "parts": parts}))
