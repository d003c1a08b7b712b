#pragma once
// The `glm-dsa.*` and `general.*` metadata llama.cpp's converter writes for a GLM-5.x checkpoint
// (conversion/glm.py GlmMoeDsaModel over deepseek.py and base.py; shared/docs/quant_gguf.md §3.1), in the
// converter's order. config_gguf.cpp reads these keys back.
#include <cstdint>
#include <string>

#include "formats/gguf_writer.h"
#include "model/config.h"
#include "quant/weight_type.h"

namespace glmq {

// `file_type` is llama.cpp's LLAMA_FTYPE of the file (general.file_type); `name` goes to general.name.
// Fails (Config) for what a glm-dsa GGUF cannot express: yarn RoPE scaling (glmq reads it only from config.json).
GgufMetadata glm_dsa_metadata(const GlmConfig& c, const std::string& name, std::uint32_t file_type);

// llama.cpp's LLAMA_FTYPE for a file whose default tensor type is `type` (as llama-quantize's type names map:
// Q4_K → Q4_K_M, Q3_K → Q3_K_M, Q5_K → Q5_K_M); F32 → ALL_F32.
std::uint32_t llama_file_type_of(WeightType type);

}  // namespace glmq
