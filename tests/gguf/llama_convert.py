#!/usr/bin/env python3
"""Runs llama.cpp's convert_hf_to_gguf.py on a small glm_moe_dsa model whose tokenizer hash llama.cpp's table lacks.

Usage: llama_convert.py LLAMA_CPP_SRC_DIR MODEL_DIR OUT.gguf OUTTYPE
The small models' split regex is GLM-4/5's, so the pre-tokenizer name is 'glm4' (shared/docs/quant_formats.md); only
that lookup is patched, the conversion itself is llama.cpp's.
"""
import sys
from pathlib import Path

src, model, out, outtype = sys.argv[1:5]
sys.path.insert(0, src)
sys.path.insert(1, str(Path(src) / "gguf-py"))
import convert_hf_to_gguf  # noqa: E402
from conversion import base  # noqa: E402

base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "glm4"
sys.argv = ["convert_hf_to_gguf.py", model, "--outtype", outtype, "--outfile", out]
convert_hf_to_gguf.main()
