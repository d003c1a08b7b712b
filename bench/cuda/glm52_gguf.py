#!/usr/bin/env python3
"""Writes a glm-dsa GGUF with GLM-5.2's layer shapes and random weights, for timing llama.cpp's CUDA build on the
same per-layer work that `bench_cuda_decode_layer ... iq2s-iq4nl` times in glmq (issue 6).

    glm52_gguf.py OUT.gguf LAYERS VOCAB.json

Shapes: hidden 6144, 64 heads (q_lora 2048, kv_lora 512, nope 192 / rope 64 / v 256), 256 experts of 2048
(8 routed + 1 shared), indexer 32 heads x 128, top-2048. Every layer is a MoE layer (no leading dense layers: the
per-layer figure is the difference between two layer counts, so embedding and head cancel) and the indexer types
alternate full / shared, as in glmq's bench. Types: the seed recipe of shared/docs/quant_gguf.md section 7.3 —
routed experts IQ2_S, every other matrix IQ4_NL, indexer.proj, the router and the norms F32.

Weights are random bytes with every block's fp16 scale set to a small constant, so every value is finite and the
work per token is the real one (decode time does not depend on the values). The vocabulary (VOCAB.json: tokens,
token types, merges and special ids, written by `glm52_gguf.py --vocab-from SMALL.gguf VOCAB.json` where gguf-py
is importable, or GGUF_PY names llama.cpp's gguf-py folder) is glm-small's, so the head is small; it cancels in the per-layer difference anyway.

Only numpy is needed (the device machine has no gguf-py), so the GGUF container is written here directly.
"""
import json
import os
import struct
import sys

import numpy as np

HIDDEN, HEADS, Q_LORA, KV_LORA, NOPE, ROPE, V_DIM = 6144, 64, 2048, 512, 192, 64, 256
EXPERTS, USED, EXPERT_FF, DENSE_FF = 256, 8, 2048, 12288
INDEX_HEADS, INDEX_DIM, INDEX_TOPK = 32, 128, 2048

# ggml type id -> (block elements, block bytes, byte offset of the fp16 scale within a block or None)
TYPES = {"F32": (0, 1, 4, None), "IQ4_NL": (20, 32, 18, 0), "IQ2_S": (22, 256, 82, 0)}
SCALE = np.float16(0.0005).view(np.uint16)

U32, I32, F32, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_value(vtype, v):
    if vtype == U32:
        return struct.pack("<I", v)
    if vtype == I32:
        return struct.pack("<i", v)
    if vtype == F32:
        return struct.pack("<f", v)
    if vtype == BOOL:
        return struct.pack("<?", v)
    if vtype == STRING:
        return gguf_string(v)
    raise ValueError(vtype)


def kv_bytes(key, vtype, value, elem_type=None):
    out = gguf_string(key) + struct.pack("<I", vtype)
    if vtype == ARRAY:
        out += struct.pack("<IQ", elem_type, len(value)) + b"".join(gguf_value(elem_type, x) for x in value)
    else:
        out += gguf_value(vtype, value)
    return out


def tensors(layers):
    """(name, dims innermost first, type) of every tensor, in file order."""
    t = [("token_embd.weight", (HIDDEN, None), "IQ4_NL"), ("output_norm.weight", (HIDDEN,), "F32"),
         ("output.weight", (HIDDEN, None), "IQ4_NL")]
    for i in range(layers):
        p = f"blk.{i}."
        t += [(p + "attn_norm.weight", (HIDDEN,), "F32"),
              (p + "attn_q_a.weight", (HIDDEN, Q_LORA), "IQ4_NL"),
              (p + "attn_q_a_norm.weight", (Q_LORA,), "F32"),
              (p + "attn_q_b.weight", (Q_LORA, HEADS * (NOPE + ROPE)), "IQ4_NL"),
              (p + "attn_kv_a_mqa.weight", (HIDDEN, KV_LORA + ROPE), "IQ4_NL"),
              (p + "attn_kv_a_norm.weight", (KV_LORA,), "F32"),
              (p + "attn_k_b.weight", (NOPE, KV_LORA, HEADS), "IQ4_NL"),
              (p + "attn_v_b.weight", (KV_LORA, V_DIM, HEADS), "IQ4_NL"),
              (p + "attn_output.weight", (HEADS * V_DIM, HIDDEN), "IQ4_NL")]
        if i % 2 == 0:  # a "full" indexer layer; "shared" layers reuse the previous full layer's selection
            t += [(p + "indexer.attn_k.weight", (HIDDEN, INDEX_DIM), "IQ4_NL"),
                  (p + "indexer.attn_q_b.weight", (Q_LORA, INDEX_HEADS * INDEX_DIM), "IQ4_NL"),
                  (p + "indexer.k_norm.weight", (INDEX_DIM,), "F32"),
                  (p + "indexer.k_norm.bias", (INDEX_DIM,), "F32"),
                  (p + "indexer.proj.weight", (HIDDEN, INDEX_HEADS), "F32")]
        t += [(p + "ffn_norm.weight", (HIDDEN,), "F32"),
              (p + "ffn_gate_inp.weight", (HIDDEN, EXPERTS), "F32"),
              (p + "exp_probs_b.bias", (EXPERTS,), "F32"),
              (p + "ffn_gate_exps.weight", (HIDDEN, EXPERT_FF, EXPERTS), "IQ2_S"),
              (p + "ffn_up_exps.weight", (HIDDEN, EXPERT_FF, EXPERTS), "IQ2_S"),
              (p + "ffn_down_exps.weight", (EXPERT_FF, HIDDEN, EXPERTS), "IQ2_S"),
              (p + "ffn_gate_shexp.weight", (HIDDEN, EXPERT_FF), "IQ4_NL"),
              (p + "ffn_up_shexp.weight", (HIDDEN, EXPERT_FF), "IQ4_NL"),
              (p + "ffn_down_shexp.weight", (EXPERT_FF, HIDDEN), "IQ4_NL")]
    return t


def nbytes(dims, tname):
    _, block, size, _ = TYPES[tname]
    rows = int(np.prod(dims[1:])) if len(dims) > 1 else 1
    assert dims[0] % block == 0, (dims, tname)
    return rows * dims[0] // block * size


def write_data(f, name, dims, tname, rng):
    _, block, size, scale_at = TYPES[tname]
    if tname == "F32":
        n = int(np.prod(dims))
        if name.endswith("norm.weight"):
            a = np.ones(n, np.float32)
        elif name.endswith(".bias"):
            a = np.zeros(n, np.float32)
        else:
            a = (rng.standard_normal(n, dtype=np.float32) * 0.02).astype(np.float32)
        f.write(a.tobytes())
        return
    # Quantized: one random slab of at most 256 MiB, repeated; each block's scale made finite and small.
    total = nbytes(dims, tname)
    blocks_per_slab = max(1, min(total // size, (256 << 20) // size))
    slab = np.frombuffer(rng.bytes(blocks_per_slab * size), np.uint8).reshape(blocks_per_slab, size).copy()
    slab[:, scale_at:scale_at + 2] = np.frombuffer(SCALE.tobytes(), np.uint8)
    slab = slab.tobytes()
    left = total
    while left:
        n = min(left, len(slab))
        f.write(slab[:n])
        left -= n


def vocab_from(gguf_path, out_path):
    if os.environ.get("GGUF_PY"):  # llama.cpp's gguf-py folder, where it is not installed
        sys.path.insert(0, os.environ["GGUF_PY"])
    import gguf  # only where the vocabulary is extracted
    r = gguf.GGUFReader(gguf_path)

    def field(k):
        f = r.fields[k]
        return f.contents()
    v = {"tokens": field("tokenizer.ggml.tokens"), "token_type": [int(x) for x in field("tokenizer.ggml.token_type")],
         "merges": field("tokenizer.ggml.merges"), "pre": field("tokenizer.ggml.pre"),
         "ids": {k: int(field("tokenizer.ggml." + k)) for k in
                 ("eos_token_id", "padding_token_id", "bos_token_id", "eot_token_id", "unknown_token_id", "eom_token_id")}}
    json.dump(v, open(out_path, "w"))


def main():
    if sys.argv[1] == "--vocab-from":
        vocab_from(sys.argv[2], sys.argv[3])
        return
    out, layers, vocab = sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3]))
    n_vocab = len(vocab["tokens"])
    arch = "glm-dsa"
    kv = [kv_bytes("general.architecture", STRING, arch), kv_bytes("general.name", STRING, "glm52-synthetic"),
          kv_bytes("general.file_type", U32, 25)]  # LLAMA_FTYPE_MOSTLY_IQ4_NL
    for key, vtype, value in (
            ("block_count", U32, layers), ("context_length", U32, 1048576), ("embedding_length", U32, HIDDEN),
            ("feed_forward_length", U32, DENSE_FF), ("attention.head_count", U32, HEADS),
            ("attention.head_count_kv", U32, 1), ("rope.freq_base", F32, 8000000.0),
            ("attention.layer_norm_rms_epsilon", F32, 1e-5), ("expert_count", U32, EXPERTS),
            ("expert_used_count", U32, USED), ("expert_group_count", U32, 1), ("expert_group_used_count", U32, 1),
            ("attention.key_length", U32, KV_LORA + ROPE), ("attention.value_length", U32, KV_LORA),
            ("leading_dense_block_count", U32, 0), ("vocab_size", U32, n_vocab),
            ("attention.q_lora_rank", U32, Q_LORA), ("attention.kv_lora_rank", U32, KV_LORA),
            ("attention.key_length_mla", U32, NOPE + ROPE), ("attention.value_length_mla", U32, V_DIM),
            ("expert_feed_forward_length", U32, EXPERT_FF), ("expert_shared_count", U32, 1),
            ("expert_weights_scale", F32, 2.5), ("expert_weights_norm", BOOL, True),
            ("rope.dimension_count", U32, ROPE), ("attention.indexer.head_count", U32, INDEX_HEADS),
            ("attention.indexer.key_length", U32, INDEX_DIM), ("attention.indexer.top_k", U32, INDEX_TOPK)):
        kv.append(kv_bytes(f"{arch}.{key}", vtype, value))
    kv.append(kv_bytes(f"{arch}.attention.indexer.types", ARRAY, [i % 2 == 0 for i in range(layers)], BOOL))
    kv += [kv_bytes("tokenizer.ggml.model", STRING, "gpt2"), kv_bytes("tokenizer.ggml.pre", STRING, vocab["pre"]),
           kv_bytes("tokenizer.ggml.tokens", ARRAY, vocab["tokens"], STRING),
           kv_bytes("tokenizer.ggml.token_type", ARRAY, vocab["token_type"], I32),
           kv_bytes("tokenizer.ggml.merges", ARRAY, vocab["merges"], STRING)]
    kv += [kv_bytes("tokenizer.ggml." + k, U32, v) for k, v in vocab["ids"].items()]
    kv += [kv_bytes("general.quantization_version", U32, 2)]

    infos, offset = [], 0
    for name, dims, tname in tensors(layers):
        dims = tuple(n_vocab if d is None else d for d in dims)
        infos.append((name, dims, tname, offset))
        offset += (nbytes(dims, tname) + 31) // 32 * 32
    rng = np.random.default_rng(0)
    with open(out, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, len(infos), len(kv)) + b"".join(kv))
        for name, dims, tname, off in infos:
            f.write(gguf_string(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims) +
                    struct.pack("<IQ", TYPES[tname][0], off))
        f.write(b"\0" * (-f.tell() % 32))
        for name, dims, tname, off in infos:
            write_data(f, name, dims, tname, rng)
            f.write(b"\0" * (-(nbytes(dims, tname)) % 32))
    print(f"{out}: {layers} layers, {offset / 1e9:.2f} GB of tensors")


if __name__ == "__main__":
    main()
