"""Interop with mlx-lm (PyPI, CPU) in both directions:
  1. mlx_lm.convert quantizes a checkpoint; glmq loads that MLX build and its logits match mlx-lm's.
  2. glmq quantize makes an MLX build; mlx-lm loads it and its logits match glmq's.
mlx-lm 0.32.2 builds an indexer on every layer, so the checkpoint is tiny-a with every layer made "full"
(layer 2 gets indexer weights). Usage: mlx_lm_roundtrip.py GLMQ_BINARY FIXTURE_DIR WORK_DIR"""
import json
import os
import shutil
import subprocess
import sys

import mlx.core as mx
import numpy as np
from mlx_lm import convert
from mlx_lm.utils import load_model
from safetensors.numpy import load_file, save_file

glmq, fixture, work = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
hf = os.path.join(work, "hf")
os.makedirs(hf)

config = json.load(open(os.path.join(fixture, "config.json")))
config["indexer_types"] = ["full"] * config["num_hidden_layers"]
# Keys real GLM-5 configs carry and mlx-lm requires (HF's class has them as defaults).
config.update({"topk_method": "noaux_tc", "scoring_func": "sigmoid", "moe_layer_freq": 1})
json.dump(config, open(os.path.join(hf, "config.json"), "w"), indent=2)
# safetensors.numpy has no bfloat16: go through mlx, which reads and writes it.
tensors = mx.load(os.path.join(fixture, "model.safetensors"))
for name in list(tensors):
    if name.startswith("model.layers.1.self_attn.indexer."):
        tensors[name.replace("layers.1.", "layers.2.")] = tensors[name]
mx.save_safetensors(os.path.join(hf, "model.safetensors"), tensors, metadata={"format": "pt"})
# mlx_lm.convert insists on a tokenizer; the trained model's serves (logits never go through it).
for f in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(os.path.join(fixture, "..", "..", "models", "glm-mini", f), hf)

ref = mx.load(os.path.join(fixture, "reference.safetensors"))
ids = np.array(ref["input_ids"]).astype(np.int64).tolist()


def mlx_logits(path, tokens):
    from pathlib import Path
    model, _ = load_model(Path(path))
    # mlx's CPU gather-matmul (unquantized experts) runs only in float32; bf16 values convert exactly.
    model.set_dtype(mx.float32)
    return np.array(model(mx.array([tokens]))[0].astype(mx.float32))


def glmq_logits(path, tokens):
    # The format is what is compared, so glmq computes as mlx-lm does here: float32 activations (its reference
    # kernels). The default int8-activation kernels move these tiny random models' logits by ~0.1 std and flip
    # near-tied expert choices; they are tested against the reference path in test_cpu_kernels (per product) and
    # test_cpu_model_kernels (MLX builds of glm-small, KL).
    out = os.path.join(work, "logits.bin")
    subprocess.run([glmq, "logits", "--model", path, "--tokens", ",".join(map(str, tokens)), "--out", out], check=True,
                   stderr=subprocess.DEVNULL, env=dict(os.environ, GLMQ_CPU_KERNELS="reference"))
    return np.fromfile(out, dtype=np.float32).reshape(len(tokens), -1)


failures = 0


def compare(label, a, b):
    global failures
    err = float(np.abs(a - b).max())
    tol = 2e-2 * float(a.std())
    ok = err <= tol
    failures += not ok
    print(f"{label}: max abs diff {err:.3g} (tolerance {tol:.3g}) {'ok' if ok else 'FAIL'}")


# The prompt stays within index_topk, so attention is dense. With the sparse top-k engaged the two differ by
# design: mlx-lm's indexer LayerNorm uses eps 1e-5 (HF and glmq: 1e-6), which flips near-ties in the top-k.
for n in (config["index_topk"],):
    tokens = ids[:n]
    mlxlm_build = os.path.join(work, "mlxlm-4bit")
    if not os.path.exists(mlxlm_build):
        convert(hf, mlx_path=mlxlm_build, quantize=True, q_bits=4, q_group_size=64)
    compare(f"mlx_lm.convert 4-bit, glmq vs mlx-lm, {n} tokens", mlx_logits(mlxlm_build, tokens), glmq_logits(mlxlm_build, tokens))

    glmq_build = os.path.join(work, "glmq-mixed")
    if not os.path.exists(glmq_build):
        subprocess.run([glmq, "quantize", "--model", hf, "--out", glmq_build, "--recipe", "mixed-3.5"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    compare(f"glmq quantize mixed-3.5, mlx-lm vs glmq, {n} tokens", mlx_logits(glmq_build, tokens), glmq_logits(glmq_build, tokens))

sys.exit(1 if failures else 0)
