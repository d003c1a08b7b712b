#include "backend/cpu/float_kernels.h"

#include <cstring>


#ifdef GLMQ_CPU_FLOAT_KERNELS
#include <immintrin.h>
#endif

namespace glmq::cpu {

bool has_float_kernel(const WeightMatrix& w) {
#ifdef GLMQ_CPU_FLOAT_KERNELS
  return w.type == WeightType::BF16 || w.type == WeightType::F16 || w.type == WeightType::F32;
#else
  (void)w;
  return false;
#endif
}

void arrange_float_acts(const float* x, std::int64_t cols, std::int64_t stride, std::int64_t t0, std::int64_t t1,
                        float* out) {
  const std::int64_t width = float_acts_width(cols);
  for (std::int64_t t = t0; t < t1; ++t) {
    const float* xr = x + t * stride;
    float* o = out + t * width;
    for (std::int64_t i = 0; i < width; i += 32)
      for (std::int64_t j = 0; j < 16; ++j) {
        o[i + j] = i + 2 * j < cols ? xr[i + 2 * j] : 0.0f;
        o[i + 16 + j] = i + 2 * j + 1 < cols ? xr[i + 2 * j + 1] : 0.0f;
      }
  }
}

#ifdef GLMQ_CPU_FLOAT_KERNELS
namespace {

// 32 weights from element i of a row → their even elements, then their odd ones, as float32. BF16 gets this order
// for free (a shift and a mask of 32-bit lanes); F16 and F32 permute into it, so all three sum in the same order and
// a matrix gives bit-identical products whether its values are stored as BF16 or widened to F32.
template <WeightType T>
inline void widen32(const std::uint8_t* row, std::int64_t i, __m512& even, __m512& odd) {
  if constexpr (T == WeightType::BF16) {
    const __m512i v = _mm512_loadu_si512(row + 2 * i);
    even = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    odd = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
  } else {
    __m512 a, b;
    if constexpr (T == WeightType::F16) {
      a = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * i)));
      b = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * i + 32)));
    } else {
      a = _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i);
      b = _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i + 16);
    }
    const __m512i evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    even = _mm512_permutex2var_ps(a, evens, b);
    odd = _mm512_permutex2var_ps(a, _mm512_add_epi32(evens, _mm512_set1_epi32(1)), b);
  }
}

// Bytes per stored element.
template <WeightType T>
constexpr std::int64_t element_bytes() {
  return T == WeightType::F32 ? 4 : 2;
}

// NR rows × NT tokens, one accumulator per output: every output sums its products in the same order whatever the
// blocking, so a token's result does not depend on how many tokens share the call (batched and single-sequence
// decoding agree bit for bit).
template <WeightType T, int NR, int NT>
void block(const WeightMatrix& w, std::int64_t r, const float* x, std::int64_t t, float* y, std::int64_t y_stride) {
  const std::int64_t cols = w.cols;
  const std::uint8_t* rows[NR];
  for (int i = 0; i < NR; ++i) rows[i] = w.row(r + i);
  __m512 acc[NR][NT];
  for (auto& a : acc)
    for (auto& b : a) b = _mm512_setzero_ps();
  const std::int64_t width = float_acts_width(cols);
  for (std::int64_t i = 0; i < width; i += 32) {
    __m512 wa[NR], wb[NR];
    if (i + 32 <= cols) {
      for (int k = 0; k < NR; ++k) widen32<T>(rows[k], i, wa[k], wb[k]);
    } else {
      // The last, partial 32: zero-padded copies, widened and summed exactly like the whole ones (so every float
      // type still sums in one order).
      for (int k = 0; k < NR; ++k) {
        alignas(64) std::uint8_t tail[32 * 4] = {};
        std::memcpy(tail, rows[k] + i * element_bytes<T>(), static_cast<std::size_t>((cols - i) * element_bytes<T>()));
        widen32<T>(tail, 0, wa[k], wb[k]);
      }
    }
    for (int j = 0; j < NT; ++j) {
      const __m512 xa = _mm512_loadu_ps(x + (t + j) * width + i), xb = _mm512_loadu_ps(x + (t + j) * width + i + 16);
      for (int k = 0; k < NR; ++k) {
        acc[k][j] = _mm512_fmadd_ps(wa[k], xa, acc[k][j]);
        acc[k][j] = _mm512_fmadd_ps(wb[k], xb, acc[k][j]);
      }
    }
  }
  for (int k = 0; k < NR; ++k)
    for (int j = 0; j < NT; ++j) {
      y[(t + j) * y_stride + r + k] = _mm512_reduce_add_ps(acc[k][j]);
    }
}

template <WeightType T, int NR>
void token_groups(const WeightMatrix& w, std::int64_t r, const float* x, std::int64_t t0, std::int64_t t1, float* y,
                  std::int64_t y_stride) {
  std::int64_t t = t0;
  for (; t + 4 <= t1; t += 4) block<T, NR, 4>(w, r, x, t, y, y_stride);
  switch (t1 - t) {
    case 3: block<T, NR, 3>(w, r, x, t, y, y_stride); break;
    case 2: block<T, NR, 2>(w, r, x, t, y, y_stride); break;
    case 1: block<T, NR, 1>(w, r, x, t, y, y_stride); break;
    default: break;
  }
}

template <WeightType T>
void rows_of(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const float* x, std::int64_t t0, std::int64_t t1,
             float* y, std::int64_t y_stride) {
  std::int64_t r = r0;
  // One token: 8 rows at a time, so 8 independent FMA chains hide the FMA latency.
  if (t1 - t0 == 1)
    for (; r + 8 <= r1; r += 8) block<T, 8, 1>(w, r, x, t0, y, y_stride);
  for (; r + 4 <= r1; r += 4) token_groups<T, 4>(w, r, x, t0, t1, y, y_stride);
  for (; r < r1; ++r) token_groups<T, 1>(w, r, x, t0, t1, y, y_stride);
}

}  // namespace

void float_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const float* x, std::int64_t t0, std::int64_t t1,
                float* y, std::int64_t y_stride) {
  switch (w.type) {
    case WeightType::BF16: rows_of<WeightType::BF16>(w, r0, r1, x, t0, t1, y, y_stride); return;
    case WeightType::F16: rows_of<WeightType::F16>(w, r0, r1, x, t0, t1, y, y_stride); return;
    case WeightType::F32: rows_of<WeightType::F32>(w, r0, r1, x, t0, t1, y, y_stride); return;
    default: return;
  }
}
#else
void float_rows(const WeightMatrix&, std::int64_t, std::int64_t, const float*, std::int64_t, std::int64_t, float*, std::int64_t) {}
#endif

}  // namespace glmq::cpu
