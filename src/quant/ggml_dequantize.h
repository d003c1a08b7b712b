#pragma once
// Reference dequantization of GGML block types, equal bit for bit to ggml's dequantize_row_* and gguf-py.
#include <cstdint>

#include "quant/weight_type.h"

namespace glmq {

// `n` elements (a multiple of the type's block size) stored as consecutive blocks of `type` → float32.
// `type` must be a GGML block type (is_ggml_block).
void dequantize_ggml(WeightType type, const std::uint8_t* blocks, float* out, std::int64_t n);

}  // namespace glmq
