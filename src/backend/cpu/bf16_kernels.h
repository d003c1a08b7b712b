#pragma once
// BF16 weights × activations rounded to bf16 (round to nearest even) once per product, multiplied pairwise by
// vdpbf16ps (AVX512-BF16) into float32 accumulators: each product of two bf16 values is exact in float32, so the
// only error beyond float32 summation is the activations' rounding, |x − bf16(x)| ≤ 2⁻⁸·|x| (8 significant bits), so
// |result − exact| ≤ 2⁻⁸·Σ|w·x| + summation error. One instruction does 32 multiply-adds where the exact float
// kernels (float_kernels.h) widen the weights and take two FMAs; llama.cpp computes BF16 products this way.
//
// CpuKernels::FastBf16 runs BF16 products here; CpuKernels::Fast keeps the exact float kernels for them (the fixture
// models' HF-parity tests need float32 activations: their random weights amplify bf16 rounding layer by layer).
#include <cstdint>
#include <vector>

#include "quant/weight_matrix.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512BF16__)
#define GLMQ_CPU_BF16_KERNELS 1
#endif

namespace glmq::cpu {

// True when this build has the bf16-activation kernel for w (BF16 weights).
bool has_bf16_kernel(const WeightMatrix& w);

// Activation rows for bf16_rows are padded to whole 32s (bf16 values, natural order).
inline std::int64_t bf16_acts_width(std::int64_t cols) { return (cols + 31) / 32 * 32; }

// Rows [t0, t1) of x (cols floats each, `stride` apart) rounded to bf16 → the same rows of `out`
// (bf16_acts_width(cols) apart), the last 32 zero-padded.
void round_bf16_acts(const float* x, std::int64_t cols, std::int64_t stride, std::int64_t t0, std::int64_t t1,
                     std::uint16_t* out);

// y[t·y_stride + r] = Σ_c W[r, c]·x[t, c] for rows [r0, r1) and tokens [t0, t1); x from round_bf16_acts.
void bf16_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const std::uint16_t* x, std::int64_t t0,
               std::int64_t t1, float* y, std::int64_t y_stride);

}  // namespace glmq::cpu
