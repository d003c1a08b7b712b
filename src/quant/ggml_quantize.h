#pragma once
// Reference GGML quantizers, bit-exact against llama-quantize (ggml's quantize_<type> as ggml_quantize_chunk calls
// it; shared/docs/quant_gguf.md §5). `importance` is llama.cpp's quant_weights: one weight per column, shared by
// all rows (the mean squared activation from an imatrix), or null.
#include <cstdint>

#include "quant/weight_type.h"

namespace glmq {

// The GGML types glmq can quantize to (the others it only reads).
bool ggml_can_quantize(WeightType type);

// Quantizes rows × cols floats (cols a multiple of the block size) into rows of `type` blocks at `dst`
// (rows · weight_row_bytes(type, cols) bytes). Rows are independent, so callers may split the work by rows.
void quantize_ggml(WeightType type, const float* src, std::uint8_t* dst, std::int64_t rows, std::int64_t cols,
                   const float* importance = nullptr);

}  // namespace glmq
