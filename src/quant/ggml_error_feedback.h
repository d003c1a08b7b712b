#pragma once
// Error-feedback (GPTQ-style) rounding into the GGML block formats. A weight row w (one output) is quantized block by
// block, left to right, each block by the ordinary block quantizer (quantize_ggml's, with the same importance
// weights); after each block its rounding error is pushed onto the columns not yet quantized, through the upper
// Cholesky factor U of H⁻¹ (H = Σ xᵀx of the product's inputs, dampened), so that the later blocks absorb what the
// earlier ones lost. That minimises ‖(w − q) X‖² — the product's output error over the calibration inputs — instead
// of the per-block weighted error alone. The blocks stay ordinary GGML blocks (any GGML reader loads them); only
// which codes and scales are chosen changes.
#include <cstdint>
#include <vector>

#include "quant/weight_type.h"

namespace glmq {

// U (cols × cols, row-major, upper triangular) with H_d⁻¹ = Uᵀ U, where H_d = H + damp · mean(diag H) · I and a
// column that never saw input (H_jj = 0) gets H_jj = 1 first. `h` is the symmetric cols × cols matrix Σ xᵀx. If the
// Cholesky factorisation fails (H numerically singular even after dampening) the damping grows tenfold and it
// retries. Returns an empty vector when H is all zero (no calibration input reached this weight): quantize plainly.
std::vector<double> error_feedback_factor(const float* h, std::int64_t cols, double damp);

// Whether quantize_ggml_error_feedback handles `type`: Q8_0, Q4_0, Q5_0, Q5_1, the K-quants, IQ4_NL, IQ4_XS, IQ2_S.
// (Q4_0/Q5_0/Q5_1 weight each block by the whole row's mean square; their blocks get the original row's.)
bool ggml_error_feedback_supports(WeightType type);

// quantize_ggml with error feedback: rows × cols floats (cols a multiple of the block size) → rows of `type` blocks.
// `u` is error_feedback_factor's result for these columns; `importance` as for quantize_ggml (may be null).
void quantize_ggml_error_feedback(WeightType type, const float* src, std::uint8_t* dst, std::int64_t rows, std::int64_t cols,
                                  const float* importance, const std::vector<double>& u);

// tr((W − Q) H (W − Q)ᵀ) / rows: the mean H-weighted squared error of a quantized matrix (Q dequantized from
// `blocks`), the quantity error feedback lowers; for tests and diagnostics.
double hessian_weighted_error(WeightType type, const float* w, const std::uint8_t* blocks, std::int64_t rows, std::int64_t cols,
                              const float* h);

}  // namespace glmq
