"""Make mlx-lm's own quantization of a glm_moe_dsa model (for bench/quality.md's mlx-lm rows).

Usage: quality_mlxlm.py HF_DIR OUT_DIR (q4 | mixed_3_6)

mlx-lm 0.32.2 builds an indexer on every layer and needs a few config keys HF's class has as defaults, so the model
is first copied with every layer made "full" (each IndexShare "shared" layer gets a copy of the indexer of the last
full layer before it) and those keys added. mlx_lm.convert quantizes that copy (q4: `-q --q-bits 4
--q-group-size 64`; mixed_3_6: `--quant-predicate mixed_3_6`, group 64). Then the copies are dropped again and
indexer_types restored, so the build is the original model's layer schedule with mlx-lm's quantized tensors: the
same shape of file glmq quantize writes, comparable byte for byte.
"""
import json
import os
import shutil
import sys
import tempfile

import mlx.core as mx
from mlx_lm import convert

hf_dir, out_dir, kind = sys.argv[1], sys.argv[2], sys.argv[3]
if kind not in ("q4", "mixed_3_6"):
    sys.exit(f"unknown kind {kind} (q4 or mixed_3_6)")

config = json.load(open(os.path.join(hf_dir, "config.json")))
types = config.get("indexer_types") or ["full"] * config["num_hidden_layers"]
work = tempfile.mkdtemp(prefix="mlxlm-src-", dir=os.path.dirname(os.path.abspath(out_dir)))
try:
    hf = os.path.join(work, "hf")
    os.makedirs(hf)
    patched = dict(config)
    patched["indexer_types"] = ["full"] * config["num_hidden_layers"]
    patched.update({"topk_method": "noaux_tc", "scoring_func": "sigmoid", "moe_layer_freq": 1})
    json.dump(patched, open(os.path.join(hf, "config.json"), "w"), indent=2)
    tensors = mx.load(os.path.join(hf_dir, "model.safetensors"))
    copied = []  # layers whose indexer is a copy
    last_full = None
    for i, t in enumerate(types):
        if t == "full":
            last_full = i
            continue
        prefix = f"model.layers.{last_full}.self_attn.indexer."
        for name in [n for n in tensors if n.startswith(prefix)]:
            tensors[name.replace(f"layers.{last_full}.", f"layers.{i}.", 1)] = tensors[name]
        copied.append(i)
    mx.save_safetensors(os.path.join(hf, "model.safetensors"), tensors, metadata={"format": "pt"})
    for f in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        if os.path.exists(os.path.join(hf_dir, f)):
            shutil.copy(os.path.join(hf_dir, f), hf)

    shutil.rmtree(out_dir, ignore_errors=True)
    if kind == "q4":
        convert(hf, mlx_path=out_dir, quantize=True, q_bits=4, q_group_size=64)
    else:
        convert(hf, mlx_path=out_dir, quantize=True, q_group_size=64, quant_predicate="mixed_3_6")
finally:
    shutil.rmtree(work, ignore_errors=True)

# Drop the indexer copies and restore the layer schedule.
files = [f for f in os.listdir(out_dir) if f.endswith(".safetensors")]
dropped = 0
for f in files:
    path = os.path.join(out_dir, f)
    t, meta = mx.load(path, return_metadata=True)
    keep = {}
    for name, v in t.items():
        if any(name.startswith(f"model.layers.{i}.self_attn.indexer.") for i in copied):
            dropped += 1
            continue
        keep[name] = v
    mx.save_safetensors(path, keep, metadata=meta)
index = os.path.join(out_dir, "model.safetensors.index.json")
if os.path.exists(index):
    idx = json.load(open(index))
    idx["weight_map"] = {k: v for k, v in idx["weight_map"].items()
                         if not any(k.startswith(f"model.layers.{i}.self_attn.indexer.") for i in copied)}
    json.dump(idx, open(index, "w"), indent=2)
out_config_path = os.path.join(out_dir, "config.json")
out_config = json.load(open(out_config_path))
out_config["indexer_types"] = types
for q in ("quantization", "quantization_config"):
    if isinstance(out_config.get(q), dict):
        for k in [k for k in out_config[q] if any(k.startswith(f"model.layers.{i}.self_attn.indexer.") for i in copied)]:
            del out_config[q][k]
json.dump(out_config, open(out_config_path, "w"), indent=4)
print(f"{out_dir}: mlx-lm {kind}; dropped {dropped} indexer tensors of layers {copied}")
