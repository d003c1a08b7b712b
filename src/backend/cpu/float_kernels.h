#pragma once
// Float32 matrix kernels for BF16, F16 and F32 weights: every weight is widened exactly to float32 and multiplied with
// float32 activations by FMA, so results differ from the plain reference loop only in the order of the sums (the
// HF-parity tests rely on float32 accuracy here; activations are never rounded to 16 bits).
//
// Register-blocked over 4 weight rows × up to 4 tokens. BF16 rows are widened two elements per 32-bit lane (even
// elements by a shift, odd by a mask), so the activations come pre-arranged as [even | odd] elements per 32; F16
// and F32 rows are permuted into the same order, so every float type sums in one order.
#include <cstdint>
#include <vector>

#include "quant/weight_matrix.h"

#if defined(__AVX512F__) && defined(__AVX512BW__)
#define GLMQ_CPU_FLOAT_KERNELS 1
#endif

namespace glmq::cpu {

// True when this build has a blocked kernel for w's type (F32, F16, BF16).
bool has_float_kernel(const WeightMatrix& w);

// Activation rows for float_rows are padded to whole 32s.
inline std::int64_t float_acts_width(std::int64_t cols) { return (cols + 31) / 32 * 32; }

// Rows [t0, t1) of x (cols floats each, `stride` apart) → the same rows of `out` (float_acts_width(cols) apart) in
// the order float_rows expects: [even | odd] elements of every 32, the last 32 zero-padded.
void arrange_float_acts(const float* x, std::int64_t cols, std::int64_t stride, std::int64_t t0,
                        std::int64_t t1, float* out);

// y[t·y_stride + r] = Σ_c W[r, c]·x[t, c] for rows [r0, r1) and tokens [t0, t1); x from arrange_float_acts.
void float_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const float* x, std::int64_t t0, std::int64_t t1,
                float* y, std::int64_t y_stride);

}  // namespace glmq::cpu
