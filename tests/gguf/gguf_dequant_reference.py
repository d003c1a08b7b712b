#!/usr/bin/env python3
"""Writes a GGUF (with gguf-py's GGUFWriter) holding, per GGML type, blocks and gguf-py's dequantization of them.

Usage: gguf_dequant_reference.py OUT.gguf [BLOCKS.gguf]
Without BLOCKS, the blocks are random bytes whose fp16 scale fields are set to small finite values. With BLOCKS
(a GGUF whose tensors llama-quantize made), each of its quantized tensors is dequantized too, under its own name.
Tensors: "<TYPE>.blocks" (raw bytes as a quantized tensor of that type) and "<TYPE>.want" (F32).
"""
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

TYPES = ["Q8_0", "Q4_0", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS", "IQ2_XXS", "IQ2_S", "IQ3_S"]
# Byte offsets of the fp16 fields of each block (quant_gguf.md §4.3).
F16_FIELDS = {"Q5_1": [0, 2], "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208]}


def random_blocks(rng, qtype, n_blocks):
    _, block_bytes = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for off in F16_FIELDS.get(qtype.name, [0]):
        d = rng.uniform(-0.05, 0.05, size=n_blocks).astype(np.float16)
        raw[:, off:off + 2] = d.view(np.uint8).reshape(n_blocks, 2)
    return raw


def main():
    out = sys.argv[1]
    w = gguf.GGUFWriter(out, arch="test")
    rng = np.random.default_rng(1234)
    for name in TYPES:
        qtype = T[name]
        block_size, _ = GGML_QUANT_SIZES[qtype]
        rows, cols = 8, 1024
        blocks = random_blocks(rng, qtype, rows * cols // block_size).reshape(rows, -1)
        want = dequantize(blocks, qtype).astype(np.float32)
        w.add_tensor(f"{name}.blocks", blocks, raw_shape=blocks.shape, raw_dtype=qtype)
        w.add_tensor(f"{name}.want", want)
    if len(sys.argv) > 2:
        src = gguf.GGUFReader(sys.argv[2])
        for t in src.tensors:
            if t.tensor_type.name in TYPES:
                data = np.array(t.data)
                want = dequantize(data, t.tensor_type).astype(np.float32).reshape(-1, int(t.shape[0]))
                w.add_tensor(f"{t.name}.want"[-63:], want)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
