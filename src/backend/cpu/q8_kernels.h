#pragma once
// Integer matrix kernels: weights in their GGML block type or MLX affine layout times activations rounded to int8
// (q8_activations.h), accumulated exactly in int32 per block and scaled in float32. One kernel per weight type (one
// for all MLX affine widths); each works on a range of weight rows for a range of tokens, decoding every weight block
// once per group of up to 4 tokens.
//
// They need AVX-512 (F, BW, VL, VNNI, and VBMI: two-source byte permutes gather the fields of unaligned blocks);
// without it, fast_kernel_for() finds none and the float path runs.
#include <cstdint>
#include <optional>

#include "backend/cpu/q8_activations.h"
#include "quant/weight_matrix.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__) && \
    defined(__AVX512VBMI__)
#define GLMQ_CPU_INT8_KERNELS 1
#endif

namespace glmq::cpu {

// y[t·y_stride + r] = Σ_c W[r, c]·x[t, c] for rows [r0, r1) and tokens [t0, t1) of `a`.
using Q8Kernel = void (*)(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0,
                          std::int64_t t1, float* y, std::int64_t y_stride);

struct FastKernel {
  Q8Format format;  // how the activations must be rounded and ordered
  Q8Kernel kernel;
};

// The integer kernel for `w`, if this build has one for its type and shape.
std::optional<FastKernel> fast_kernel_for(const WeightMatrix& w);

// Per type (q8_kernels_<family>.cpp); fast_kernel_for() pairs each with the activation format it expects.
void q8_0_rows(const WeightMatrix&, std::int64_t, std::int64_t, const Q8Rows&, std::int64_t, std::int64_t, float*, std::int64_t);
void iq4_nl_rows(const WeightMatrix&, std::int64_t, std::int64_t, const Q8Rows&, std::int64_t, std::int64_t, float*, std::int64_t);
void q4_0_rows(const WeightMatrix&, std::int64_t, std::int64_t, const Q8Rows&, std::int64_t, std::int64_t, float*, std::int64_t);
void q5_0_rows(const WeightMatrix&, std::int64_t, std::int64_t, const Q8Rows&, std::int64_t, std::int64_t, float*, std::int64_t);
void q5_1_rows(const WeightMatrix&, std::int64_t, std::int64_t, const Q8Rows&, std::int64_t, std::int64_t, float*, std::int64_t);
void iq4_xs_rows(const WeightMatrix&, std::int64_t, std::int64_t, const Q8Rows&, std::int64_t, std::int64_t, float*, std::int64_t);
void q2_k_rows(const WeightMatrix&, std::int64_t, std::int64_t, const Q8Rows&, std::int64_t, std::int64_t, float*, std::int64_t);
void q3_k_rows(const WeightMatrix&, std::int64_t, std::int64_t, const Q8Rows&, std::int64_t, std::int64_t, float*, std::int64_t);
void q4_k_rows(const WeightMatrix&, std::int64_t, std::int64_t, const Q8Rows&, std::int64_t, std::int64_t, float*, std::int64_t);
void q5_k_rows(const WeightMatrix&, std::int64_t, std::int64_t, const Q8Rows&, std::int64_t, std::int64_t, float*, std::int64_t);
void q6_k_rows(const WeightMatrix&, std::int64_t, std::int64_t, const Q8Rows&, std::int64_t, std::int64_t, float*, std::int64_t);
void iq2_xxs_rows(const WeightMatrix&, std::int64_t, std::int64_t, const Q8Rows&, std::int64_t, std::int64_t, float*, std::int64_t);
void iq2_s_rows(const WeightMatrix&, std::int64_t, std::int64_t, const Q8Rows&, std::int64_t, std::int64_t, float*, std::int64_t);
void iq3_s_rows(const WeightMatrix&, std::int64_t, std::int64_t, const Q8Rows&, std::int64_t, std::int64_t, float*, std::int64_t);
// Every MLX affine width and group size (q8_kernels_affine.cpp): one kernel, so products with matrices of different
// widths (a mixed build's attention and experts) can share one rounding of their activations.
void affine_rows(const WeightMatrix&, std::int64_t, std::int64_t, const Q8Rows&, std::int64_t, std::int64_t, float*, std::int64_t);

}  // namespace glmq::cpu
