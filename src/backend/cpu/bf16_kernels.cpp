#include "backend/cpu/bf16_kernels.h"

#include <bit>

#ifdef GLMQ_CPU_BF16_KERNELS
#include <immintrin.h>
#endif

namespace glmq::cpu {

bool has_bf16_kernel(const WeightMatrix& w) {
#ifdef GLMQ_CPU_BF16_KERNELS
  return w.type == WeightType::BF16;
#else
  (void)w;
  return false;
#endif
}

#ifdef GLMQ_CPU_BF16_KERNELS
void round_bf16_acts(const float* x, std::int64_t cols, std::int64_t stride, std::int64_t t0, std::int64_t t1,
                     std::uint16_t* out) {
  const std::int64_t width = bf16_acts_width(cols);
  for (std::int64_t t = t0; t < t1; ++t) {
    const float* xr = x + t * stride;
    std::uint16_t* o = out + t * width;
    for (std::int64_t i = 0; i < width; i += 32) {
      // Elements past cols read as zero (masked loads never touch them).
      const auto lanes = [&](std::int64_t at) {
        const std::int64_t left = cols - at;
        return left >= 16 ? static_cast<__mmask16>(0xFFFF) : left <= 0 ? static_cast<__mmask16>(0)
                                                                          : static_cast<__mmask16>((1u << left) - 1);
      };
      const __m512 lo = _mm512_maskz_loadu_ps(lanes(i), xr + i), hi = _mm512_maskz_loadu_ps(lanes(i + 16), xr + i + 16);
      _mm512_storeu_si512(o + i, std::bit_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo)));
    }
  }
}

namespace {

// NR rows × NT tokens, one accumulator per output: every output sums its products in the same order whatever the
// blocking (a token's result does not depend on how many tokens share the call).
template <int NR, int NT>
void block(const WeightMatrix& w, std::int64_t r, const std::uint16_t* x, std::int64_t t, float* y, std::int64_t y_stride) {
  const std::int64_t cols = w.cols, width = bf16_acts_width(cols);
  const std::uint16_t* rows[NR];
  for (int k = 0; k < NR; ++k) rows[k] = reinterpret_cast<const std::uint16_t*>(w.row(r + k));
  __m512 acc[NR][NT];
  for (auto& a : acc)
    for (auto& b : a) b = _mm512_setzero_ps();
  for (std::int64_t i = 0; i < width; i += 32) {
    // The last, partial 32 of a row: a masked load (zeros past the row; a NaN or Inf in the next row must not meet
    // the activations' zero padding).
    const __mmask32 valid = i + 32 <= cols ? ~__mmask32{0} : static_cast<__mmask32>((1u << (cols - i)) - 1);
    __m512bh wk[NR];
    for (int k = 0; k < NR; ++k) wk[k] = std::bit_cast<__m512bh>(_mm512_maskz_loadu_epi16(valid, rows[k] + i));
    for (int j = 0; j < NT; ++j) {
      const __m512bh xj = std::bit_cast<__m512bh>(_mm512_loadu_si512(x + (t + j) * width + i));
      for (int k = 0; k < NR; ++k) acc[k][j] = _mm512_dpbf16_ps(acc[k][j], wk[k], xj);
    }
  }
  for (int k = 0; k < NR; ++k)
    for (int j = 0; j < NT; ++j) y[(t + j) * y_stride + r + k] = _mm512_reduce_add_ps(acc[k][j]);
}

template <int NR>
void token_groups(const WeightMatrix& w, std::int64_t r, const std::uint16_t* x, std::int64_t t0, std::int64_t t1, float* y,
                  std::int64_t y_stride) {
  std::int64_t t = t0;
  for (; t + 4 <= t1; t += 4) block<NR, 4>(w, r, x, t, y, y_stride);
  switch (t1 - t) {
    case 3: block<NR, 3>(w, r, x, t, y, y_stride); break;
    case 2: block<NR, 2>(w, r, x, t, y, y_stride); break;
    case 1: block<NR, 1>(w, r, x, t, y, y_stride); break;
    default: break;
  }
}

}  // namespace

void bf16_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const std::uint16_t* x, std::int64_t t0,
               std::int64_t t1, float* y, std::int64_t y_stride) {
  std::int64_t r = r0;
  // One token: 8 rows at a time, so 8 independent accumulation chains hide the vdpbf16ps latency.
  if (t1 - t0 == 1)
    for (; r + 8 <= r1; r += 8) block<8, 1>(w, r, x, t0, y, y_stride);
  for (; r + 4 <= r1; r += 4) token_groups<4>(w, r, x, t0, t1, y, y_stride);
  for (; r < r1; ++r) token_groups<1>(w, r, x, t0, t1, y, y_stride);
}
#else
void round_bf16_acts(const float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::uint16_t*) {}
void bf16_rows(const WeightMatrix&, std::int64_t, std::int64_t, const std::uint16_t*, std::int64_t, std::int64_t, float*,
               std::int64_t) {}
#endif

}  // namespace glmq::cpu
