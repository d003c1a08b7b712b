#pragma once
// A register-blocked float32 kernel for prefill: Y[t, r] = Σ_k W[r, k]·X[t, k] for a tile of weight rows
// already converted to float32. 4 rows × 4 tokens of SIMD accumulators per step, so every load feeds 4 FMAs.
#include <cstdint>

namespace glmq::cpu {

// w: `rows` rows of k floats (contiguous); x: n rows of k floats; y: n rows with stride y_stride, columns
// [0, rows) of each written at y + t·y_stride + r.
void gemm_f32_tile(const float* w, std::int64_t rows, const float* x, std::int64_t n, std::int64_t k, float* y,
                   std::int64_t y_stride);

}  // namespace glmq::cpu
