#include "backend/cpu/gemm_f32.h"

#include <cstring>

namespace glmq::cpu {

namespace {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
#else
constexpr int kLanes = 8;
#endif
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

inline Vec load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline float hsum(Vec v) {
  float s = 0.0f;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}

// 4 weight rows × 4 tokens.
void block4x4(const float* w, const float* x, std::int64_t k, float* y, std::int64_t y_stride) {
  Vec acc[4][4] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= k; i += kLanes) {
    const Vec w0 = load(w + i), w1 = load(w + k + i), w2 = load(w + 2 * k + i), w3 = load(w + 3 * k + i);
    for (int t = 0; t < 4; ++t) {
      const Vec xv = load(x + t * k + i);
      acc[t][0] += w0 * xv;
      acc[t][1] += w1 * xv;
      acc[t][2] += w2 * xv;
      acc[t][3] += w3 * xv;
    }
  }
  for (int t = 0; t < 4; ++t)
    for (int r = 0; r < 4; ++r) {
      float s = hsum(acc[t][r]);
      for (std::int64_t j = i; j < k; ++j) s += w[r * k + j] * x[t * k + j];
      y[t * y_stride + r] = s;
    }
}

// Any remaining rows/tokens, one pair at a time.
float dot(const float* a, const float* b, std::int64_t k) {
  Vec acc = {};
  std::int64_t i = 0;
  for (; i + kLanes <= k; i += kLanes) acc += load(a + i) * load(b + i);
  float s = hsum(acc);
  for (; i < k; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

void gemm_f32_tile(const float* w, std::int64_t rows, const float* x, std::int64_t n, std::int64_t k, float* y,
                   std::int64_t y_stride) {
  std::int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    std::int64_t t = 0;
    for (; t + 4 <= n; t += 4) block4x4(w + r * k, x + t * k, k, y + t * y_stride + r, y_stride);
    for (; t < n; ++t)
      for (std::int64_t rr = r; rr < r + 4; ++rr) y[t * y_stride + rr] = dot(w + rr * k, x + t * k, k);
  }
  for (; r < rows; ++r)
    for (std::int64_t t = 0; t < n; ++t) y[t * y_stride + r] = dot(w + r * k, x + t * k, k);
}

}  // namespace glmq::cpu
