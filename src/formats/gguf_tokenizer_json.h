#pragma once
// The tokenizer llama.cpp's converter stores in GGUF metadata (tokenizer.ggml.*, quant_gguf.md §3.3), rebuilt as
// the tokenizer.json it came from, so glmq's tokenizer reads it unchanged. Only the byte-level BPE GLM uses
// (model "gpt2", pre-tokenizer "glm4"/"glm5") is supported; anything else is refused by name.
#include "core/json_file.h"
#include "formats/gguf_file.h"

namespace glmq {

Json tokenizer_json_from_gguf(const GgufFile& file);

}  // namespace glmq
