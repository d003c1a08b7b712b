#pragma once
// Reference GGML quantizers, bit-exact against llama-quantize (ggml's quantize_<type> as ggml_quantize_chunk calls
// it; shared/docs/quant_gguf.md §5). `importance` is llama.cpp's quant_weights: one weight per column, shared by
// all rows (the mean squared activation from an imatrix), or null.
#include <cstdint>

#include "quant/weight_type.h"

namespace glmq {

// The GGML types glmq can quantize to: Q8_0, Q4_0, Q5_0, Q5_1, Q2_K…Q6_K, IQ4_NL, IQ4_XS, IQ2_XXS, IQ2_S, IQ3_S
// (the others it only reads).
bool ggml_can_quantize(WeightType type);

// ggml_quantize_requires_imatrix for the types glmq writes: IQ2_XXS, whose quantizer has no unweighted form
// (quantize_ggml refuses it without `importance`). Unlike llama-quantize's tensor_requires_imatrix this admits no
// exception for token_embd/output: llama-quantize aborts there too.
bool ggml_quantize_requires_importance(WeightType type);

// Quantizes rows × cols floats (cols a multiple of the block size) into rows of `type` blocks at `dst`
// (rows · weight_row_bytes(type, cols) bytes). Rows are independent, so callers may split the work by rows.
// For a 3-D tensor (experts) call it once per expert with that expert's importance (tensor_quant_weights in
// quant/importance_matrix.h gives llama-quantize's layout). Thread-safe; IQ2_XXS/IQ2_S/IQ3_S build their grid maps on first use.
void quantize_ggml(WeightType type, const float* src, std::uint8_t* dst, std::int64_t rows, std::int64_t cols,
                   const float* importance = nullptr);

// Whether this build fuses a·b + c into one rounding (FMA contraction), as an optimised build for a CPU with FMA
// does. ggml is built that way, so near-ties in the scale searches then break as in llama-quantize; an unoptimised
// build (the sanitizer one) or a CPU without FMA rounds twice and may choose other codes for a few blocks.
bool ggml_quantizers_fuse_multiply_add();

}  // namespace glmq
