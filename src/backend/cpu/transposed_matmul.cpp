#include "backend/cpu/transposed_matmul.h"

#include <algorithm>

#include "backend/cpu/row_kernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace glmq::cpu {

namespace {

#if defined(__AVX512F__)
// Rows [r, r + 16·NV) of the transposed matrix (row stride `width`) × NT tokens; `valid` rows of the block are real
// (the rest padding, not stored).
template <int NV, int NT>
void block(const float* wt, std::int64_t width, std::int64_t k, std::int64_t r, std::int64_t valid, const float* x,
           std::int64_t x_stride, std::int64_t t, float* y, std::int64_t y_stride) {
  __m512 acc[NT][NV];
  for (auto& a : acc)
    for (auto& v : a) v = _mm512_setzero_ps();
  for (std::int64_t c = 0; c < k; ++c) {
    __m512 wv[NV];
    for (int v = 0; v < NV; ++v) wv[v] = _mm512_loadu_ps(wt + c * width + r + 16 * v);
    for (int j = 0; j < NT; ++j) {
      const __m512 xb = _mm512_set1_ps(x[(t + j) * x_stride + c]);
      for (int v = 0; v < NV; ++v) acc[j][v] = _mm512_fmadd_ps(wv[v], xb, acc[j][v]);
    }
  }
  for (int j = 0; j < NT; ++j)
    for (int v = 0; v < NV; ++v) {
      const std::int64_t left = valid - 16 * v;
      if (left <= 0) break;
      const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
      _mm512_mask_storeu_ps(y + (t + j) * y_stride + r + 16 * v, m, acc[j][v]);
    }
}

template <int NV>
void tokens(const float* wt, std::int64_t width, std::int64_t k, std::int64_t r, std::int64_t valid, const float* x,
            std::int64_t x_stride, std::int64_t n, float* y, std::int64_t y_stride) {
  std::int64_t t = 0;
  for (; t + 4 <= n; t += 4) block<NV, 4>(wt, width, k, r, valid, x, x_stride, t, y, y_stride);
  for (; t < n; ++t) block<NV, 1>(wt, width, k, r, valid, x, x_stride, t, y, y_stride);
}
#endif

}  // namespace

void transposed_matmul(const WeightMatrix& w, const float* x, std::int64_t n, std::int64_t x_stride, float* y,
                       std::int64_t y_stride, std::vector<float>& scratch) {
  const std::int64_t rows = w.rows, k = w.cols, width = (rows + 15) / 16 * 16;
  scratch.assign(static_cast<std::size_t>(width * k + k), 0.0f);
  float* wt = scratch.data();
  float* row = scratch.data() + width * k;
  for (std::int64_t r = 0; r < rows; ++r) {
    row_to_f32(w, r, row);
    for (std::int64_t c = 0; c < k; ++c) wt[c * width + r] = row[c];
  }
#if defined(__AVX512F__)
  // Blocks of 64 rows (4 vectors) × 4 tokens: 16 accumulators, each weight load feeding 4 multiply-adds.
  for (std::int64_t r = 0; r < width; r += 64) {
    const std::int64_t valid = std::min<std::int64_t>(64, rows - r);
    switch ((std::min<std::int64_t>(64, width - r) + 15) / 16) {
      case 4: tokens<4>(wt, width, k, r, valid, x, x_stride, n, y, y_stride); break;
      case 3: tokens<3>(wt, width, k, r, valid, x, x_stride, n, y, y_stride); break;
      case 2: tokens<2>(wt, width, k, r, valid, x, x_stride, n, y, y_stride); break;
      default: tokens<1>(wt, width, k, r, valid, x, x_stride, n, y, y_stride); break;
    }
  }
#else
  for (std::int64_t t = 0; t < n; ++t)
    for (std::int64_t r = 0; r < rows; ++r) {
      float s = 0.0f;
      for (std::int64_t c = 0; c < k; ++c) s += wt[c * width + r] * x[t * x_stride + c];
      y[t * y_stride + r] = s;
    }
#endif
}

}  // namespace glmq::cpu
