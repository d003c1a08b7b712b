#include "backend/cpu/latent_attention.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "backend/cpu/row_kernels.h"
#include "core/float_convert.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define GLMQ_LATENT_ATTENTION_AVX512 1
#endif

namespace glmq::cpu {

namespace {

inline float value(const float* p, std::int64_t i) { return p[i]; }
inline float value(const std::uint16_t* p, std::int64_t i) { return f16_to_f32(p[i]); }

// Heads that share each pass over the rows: 4 heads × 4 partial sums (scores) or × 4 vectors (õ) are 16 accumulators.
constexpr int kHeadGroup = 4;

#if defined(GLMQ_LATENT_ATTENTION_AVX512)
// The first `left` of 16 lanes (all of them from 16 on).
inline __mmask16 first_lanes(std::int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
}
inline __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
inline __m512 load(const std::uint16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }

// out[h] = q_h·row for NH heads (query h at q + h·q_stride, n values), each summed exactly as dot_f32_unrolled
// (row_kernels.h) sums it — four accumulators over 64-element steps, then 16-element steps into the first, one
// horizontal sum, then single elements — so the results are those of the per-head loop this replaces, bit for bit:
// the indexer's top-k of later layers turns even last-bit differences into other selections.
template <int NH, class E>
void dot_heads(const E* row, const float* q, std::int64_t q_stride, std::int64_t n, float* out) {
  __m512 acc[NH][4];
  for (auto& head : acc)
    for (auto& a : head) a = _mm512_setzero_ps();
  std::int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m512 x[4];
    for (int k = 0; k < 4; ++k) x[k] = load(row + i + 16 * k, 0xFFFF);
    for (int h = 0; h < NH; ++h)
      for (int k = 0; k < 4; ++k) acc[h][k] = _mm512_fmadd_ps(_mm512_loadu_ps(q + h * q_stride + i + 16 * k), x[k], acc[h][k]);
  }
  for (; i + 16 <= n; i += 16) {
    const __m512 x = load(row + i, 0xFFFF);
    for (int h = 0; h < NH; ++h) acc[h][0] = _mm512_fmadd_ps(_mm512_loadu_ps(q + h * q_stride + i), x, acc[h][0]);
  }
  for (int h = 0; h < NH; ++h)
    out[h] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[h][0], acc[h][1]), _mm512_add_ps(acc[h][2], acc[h][3])));
  for (; i < n; ++i)
    for (int h = 0; h < NH; ++h) out[h] += q[h * q_stride + i] * value(row, i);
}

// o_h[c0 .. c0 + 16·NV) = Σ_j p_h[j]·latent[j][c0 ..] for NH heads, all NH·NV vectors held in registers.
template <int NH, int NV, class E>
void accumulate_columns(const E* const* latent, const float* p, std::int64_t count, std::int64_t c0, std::int64_t width,
                        float* o, std::int64_t o_stride) {
  __m512 acc[NH][NV];
  for (auto& head : acc)
    for (auto& a : head) a = _mm512_setzero_ps();
  for (std::int64_t j = 0; j < count; ++j) {
    __m512 x[NV];
    for (int v = 0; v < NV; ++v) x[v] = load(latent[j] + c0 + 16 * v, first_lanes(width - 16 * v));
    for (int h = 0; h < NH; ++h) {
      const __m512 ph = _mm512_set1_ps(p[h * count + j]);
      // Written as axpy_f32's y += a·x (not as an explicit fused multiply-add), so that the compiler contracts it
      // exactly where it contracts axpy_f32 (a fused multiply-add when optimising, a multiply and an add in debug).
      for (int v = 0; v < NV; ++v) acc[h][v] = _mm512_add_ps(acc[h][v], _mm512_mul_ps(ph, x[v]));
    }
  }
  for (int h = 0; h < NH; ++h)
    for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(o + h * o_stride + c0 + 16 * v, first_lanes(width - 16 * v), acc[h][v]);
}

template <int NH, class E>
void raw_scores(const E* const* latent, const E* const* rope, const LatentRows& r, const LatentQueries& q, float* scores) {
  for (std::int64_t j = 0; j < r.count; ++j) {
    float lat[NH], rp[NH];
    dot_heads<NH>(latent[j], q.q_lat, q.q_lat_stride, r.latent_dim, lat);
    dot_heads<NH>(rope[j], q.q_rope, q.q_rope_stride, r.rope_dim, rp);
    for (int h = 0; h < NH; ++h) scores[h * r.count + j] = lat[h] + rp[h];
  }
}

template <int NH, class E>
void weighted_sum(const E* const* latent, const float* p, std::int64_t count, std::int64_t R, float* o, std::int64_t o_stride) {
  // Slabs of 64 columns (4 vectors per head), then what is left 16 columns at a time.
  std::int64_t c0 = 0;
  for (; c0 + 64 <= R; c0 += 64) accumulate_columns<NH, 4>(latent, p, count, c0, 64, o, o_stride);
  for (; c0 < R; c0 += 16) accumulate_columns<NH, 1>(latent, p, count, c0, R - c0, o, o_stride);
}
#else
// Without AVX-512: the row as float32 values (in place, or widened into buf), then row_kernels.h's own loops.
template <class E>
const float* as_floats(const E* row, std::int64_t n, std::vector<float>& buf) {
  if constexpr (std::is_same_v<E, float>) {
    return row;
  } else {
    buf.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) buf[static_cast<std::size_t>(i)] = value(row, i);
    return buf.data();
  }
}

template <int NH, class E>
void raw_scores(const E* const* latent, const E* const* rope, const LatentRows& r, const LatentQueries& q, float* scores) {
  std::vector<float> lat_buf, rope_buf;
  for (std::int64_t j = 0; j < r.count; ++j) {
    const float* lat = as_floats(latent[j], r.latent_dim, lat_buf);
    const float* rp = as_floats(rope[j], r.rope_dim, rope_buf);
    for (int h = 0; h < NH; ++h)
      scores[h * r.count + j] = dot_f32_unrolled(q.q_lat + h * q.q_lat_stride, lat, r.latent_dim) +
                                dot_f32_unrolled(q.q_rope + h * q.q_rope_stride, rp, r.rope_dim);
  }
}

template <int NH, class E>
void weighted_sum(const E* const* latent, const float* p, std::int64_t count, std::int64_t R, float* o, std::int64_t o_stride) {
  std::vector<float> buf;
  for (int h = 0; h < NH; ++h) std::fill(o + h * o_stride, o + h * o_stride + R, 0.0f);
  for (std::int64_t j = 0; j < count; ++j) {
    const float* row = as_floats(latent[j], R, buf);
    for (int h = 0; h < NH; ++h) axpy_f32(p[h * count + j], row, o + h * o_stride, R);
  }
}
#endif

// Heads [0, NH) of `q`: scores, softmax and õ.
template <int NH, class E>
void attend_group(const LatentRows& r, const LatentQueries& q, float* scores, float* o, std::int64_t o_stride) {
  const auto* latent = reinterpret_cast<const E* const*>(r.latent);
  const auto* rope = reinterpret_cast<const E* const*>(r.rope);
  raw_scores<NH>(latent, rope, r, q, scores);
  for (int h = 0; h < NH; ++h) {
    float* s = scores + h * r.count;
    float max_score = -INFINITY;
    for (std::int64_t j = 0; j < r.count; ++j) max_score = std::max(max_score, s[j] *= q.scale);
    float sum = 0.0f;
    for (std::int64_t j = 0; j < r.count; ++j) sum += s[j] = std::exp(s[j] - max_score);
    for (std::int64_t j = 0; j < r.count; ++j) s[j] /= sum;
  }
  weighted_sum<NH>(latent, scores, r.count, r.latent_dim, o, o_stride);
}

template <class E>
void attend(const LatentRows& r, const LatentQueries& q, float* scores, float* o, std::int64_t o_stride) {
  for (std::int64_t h0 = 0; h0 < q.heads; h0 += kHeadGroup) {
    LatentQueries g = q;
    g.q_lat += h0 * q.q_lat_stride;
    g.q_rope += h0 * q.q_rope_stride;
    float* gs = scores + h0 * r.count;
    float* go = o + h0 * o_stride;
    switch (std::min<std::int64_t>(kHeadGroup, q.heads - h0)) {
      case 4: attend_group<4, E>(r, g, gs, go, o_stride); break;
      case 3: attend_group<3, E>(r, g, gs, go, o_stride); break;
      case 2: attend_group<2, E>(r, g, gs, go, o_stride); break;
      default: attend_group<1, E>(r, g, gs, go, o_stride); break;
    }
  }
}

}  // namespace

void attend_latent_rows(const LatentRows& rows, const LatentQueries& queries, float* scores, float* o_lat,
                        std::int64_t o_stride) {
  if (rows.f16)
    attend<std::uint16_t>(rows, queries, scores, o_lat, o_stride);
  else
    attend<float>(rows, queries, scores, o_lat, o_stride);
}

}  // namespace glmq::cpu
