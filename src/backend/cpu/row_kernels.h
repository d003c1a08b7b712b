#pragma once
// Per-row kernels on weights in their stored type; the building blocks of the CPU ops. Each dequantizes on
// the fly (fused), so a matrix-vector product reads every weight byte exactly once.
#include <cstdint>

#include "quant/weight_matrix.h"

namespace glmq::cpu {

float dot_f32(const float* a, const float* b, std::int64_t n);
// The same sum with four independent accumulators (another order of additions; for the fast paths only).
float dot_f32_unrolled(const float* a, const float* b, std::int64_t n);
void axpy_f32(float a, const float* x, float* y, std::int64_t n);
// Σ_c W[r, c]·x[c] with the row in its stored type.
float dot_row(const WeightMatrix& w, std::int64_t r, const float* x);
// Row r of W as float32 values.
void row_to_f32(const WeightMatrix& w, std::int64_t r, float* out);

}  // namespace glmq::cpu
