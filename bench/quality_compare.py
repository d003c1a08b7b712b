"""Are two MLX builds the same tensors? Usage: quality_compare.py DIR_A DIR_B

Prints "identical: N tensors" (exit 0) when both hold the same tensor names with equal dtype, shape and bytes;
otherwise lists what differs (exit 1). bench/quality.sh uses it to find mlx-lm builds that equal a glmq preset.
"""
import sys

import mlx.core as mx


def load(d):
    import glob
    import os
    out = {}
    for f in sorted(glob.glob(os.path.join(d, "*.safetensors"))):
        out.update(mx.load(f))
    return out


a, b = load(sys.argv[1]), load(sys.argv[2])
only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
diff = sorted(k for k in set(a) & set(b)
              if a[k].dtype != b[k].dtype or a[k].shape != b[k].shape or not mx.array_equal(a[k], b[k]).item())
if not (only_a or only_b or diff):
    print(f"identical: {len(a)} tensors")
    sys.exit(0)
print(f"differ: only in A {only_a[:10]}, only in B {only_b[:10]}, different values {len(diff)}: {diff[:20]}")
sys.exit(1)
