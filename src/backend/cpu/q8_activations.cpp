#include "backend/cpu/q8_activations.h"

#include <algorithm>
#include <cmath>

#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#endif

namespace glmq::cpu {

namespace {

// Where the 16 elements starting at natural offset e (a multiple of 16) are stored in a row of `cols`.
inline std::int64_t stored_at(std::int64_t e, std::int64_t cols, Q8Order order) {
  const std::int64_t span = e / 128 * 128;
  if (order == Q8Order::Natural || span + 128 > cols) return e;
  const std::int64_t within = e - span;
  if (order == Q8Order::NibbleGroups) return span + (within % 32) / 16 * 64 + within / 32 * 16;
  constexpr std::int64_t kQuarter[4] = {0, 2, 1, 3};  // Q4K: natural 32-piece p goes to quarter kQuarter[p]
  return span + kQuarter[within / 32] * 32 + within % 32;
}

// 16 values → 16 int8 at `q`; returns their sum.
inline int round16(const float* x, float inv, std::int8_t* q) {
#if defined(__AVX512F__) && defined(__AVX512BW__)
  const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x), _mm512_set1_ps(inv)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtsepi32_epi8(v));
  return _mm512_reduce_add_epi32(v);
#else
  int s = 0;
  for (int i = 0; i < 16; ++i) {
    q[i] = static_cast<std::int8_t>(std::nearbyint(x[i] * inv));
    s += q[i];
  }
  return s;
#endif
}

inline float max_abs(const float* x, std::int64_t n) {
#if defined(__AVX512F__)
  __m512 m = _mm512_setzero_ps();
  for (std::int64_t i = 0; i < n; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
  return _mm512_reduce_max_ps(m);
#else
  float m = 0.0f;
  for (std::int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
#endif
}

}  // namespace

void prepare_q8(std::int64_t n, std::int64_t cols, Q8Format format, Q8Rows& out) {
  out.format = format;
  out.rows = n;
  out.cols = cols;
  const auto count = static_cast<std::size_t>(n * cols);
  auto grow = [](auto& v, std::size_t size) {
    if (v.size() < size) v.resize(size);
  };
  grow(out.q, count);
  grow(out.d, count / static_cast<std::size_t>(format.block));
  grow(out.sum16, count / 16);
  grow(out.sum32, count / 32);
  grow(out.dsum32, count / 32);
}

void quantize_q8_rows(const float* x, std::int64_t stride, std::int64_t t0, std::int64_t t1, Q8Rows& out) {
  const std::int64_t cols = out.cols, B = out.format.block;
  for (std::int64_t t = t0; t < t1; ++t) {
    const float* xr = x + t * stride;
    std::int8_t* q = out.q.data() + t * cols;
    float* d = out.d.data() + t * (cols / B);
    std::int16_t* s16 = out.sum16.data() + t * (cols / 16);
    std::int32_t* s32 = out.sum32.data() + t * (cols / 32);
    float* ds32 = out.dsum32.data() + t * (cols / 32);
    for (std::int64_t b = 0; b < cols / B; ++b) {
      const float amax = max_abs(xr + b * B, B);
      d[b] = amax / 127.0f;
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      for (std::int64_t e = b * B; e < (b + 1) * B; e += 16)
        s16[e / 16] = static_cast<std::int16_t>(round16(xr + e, inv, q + stored_at(e, cols, out.format.order)));
    }
    for (std::int64_t g = 0; g < cols / 32; ++g) {
      s32[g] = s16[2 * g] + s16[2 * g + 1];
      ds32[g] = d[g * 32 / B] * static_cast<float>(s32[g]);
    }
  }
}

}  // namespace glmq::cpu
