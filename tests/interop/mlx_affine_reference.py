"""Writes MLX's own affine quantization of random matrices, for every bits x group size and for float32 and
bfloat16 inputs, to a safetensors file that tests/interop/test_mlx_interop.cpp compares glmq against."""
import sys

import mlx.core as mx
import numpy as np

out = sys.argv[1]
rng = np.random.default_rng(1234)
tensors = {}
for dtype_name, dtype in (("f32", mx.float32), ("bf16", mx.bfloat16)):
    for bits in (2, 3, 4, 5, 6, 8):
        for gs in (32, 64, 128):
            # Rows of different character: normal, all-positive, all-negative, constant, tiny, with exact zeros.
            w = rng.standard_normal((6, 256)).astype(np.float32)
            w[1] = np.abs(w[1]) + 0.1
            w[2] = -np.abs(w[2]) - 0.1
            w[3] = 0.37
            w[4] *= 1e-3
            w[5, ::3] = 0.0
            x = mx.array(w).astype(dtype)
            q, s, b = mx.quantize(x, group_size=gs, bits=bits)
            d = mx.dequantize(q, s, b, group_size=gs, bits=bits)
            key = f"{dtype_name}.b{bits}.g{gs}"
            tensors[key + ".input"] = x.astype(mx.float32)
            tensors[key + ".codes"] = q
            tensors[key + ".scales"] = s.astype(mx.float32)
            tensors[key + ".biases"] = b.astype(mx.float32)
            tensors[key + ".dequantized"] = d.astype(mx.float32)
mx.save_safetensors(out, tensors)
