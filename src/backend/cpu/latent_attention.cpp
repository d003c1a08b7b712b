#include "backend/cpu/latent_attention.h"

#include <algorithm>
#include <cmath>

#include "core/float_convert.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define GLMQ_LATENT_ATTENTION_AVX512 1
#endif

namespace glmq::cpu {

namespace {

// Heads that share each pass over the rows: 4 heads × 4 rows (scores) or × 4 vectors (õ) are 16 accumulators.
constexpr int kHeadGroup = 4;

#if defined(GLMQ_LATENT_ATTENTION_AVX512)
// The first `left` of 16 lanes (all of them from 16 on).
inline __mmask16 first_lanes(std::int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
}
inline __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
inline __m512 load(const std::uint16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }

// scores[h·count + b] = q_lat_h·latent[b] + q_rope_h·rope[b] for NH heads and NB rows (before the scale).
template <int NH, int NB, class E>
void score_block(const E* const* latent, const E* const* rope, const LatentRows& r, const LatentQueries& q,
                 float* scores) {
  __m512 acc[NH][NB];
  for (auto& head : acc)
    for (auto& a : head) a = _mm512_setzero_ps();
  auto part = [&](const E* const* rows, const float* query, std::int64_t stride, std::int64_t dim) {
    for (std::int64_t i = 0; i < dim; i += 16) {
      const __mmask16 m = first_lanes(dim - i);
      __m512 x[NB];
      for (int b = 0; b < NB; ++b) x[b] = load(rows[b] + i, m);
      for (int h = 0; h < NH; ++h) {
        const __m512 qv = _mm512_maskz_loadu_ps(m, query + h * stride + i);
        for (int b = 0; b < NB; ++b) acc[h][b] = _mm512_fmadd_ps(qv, x[b], acc[h][b]);
      }
    }
  };
  part(latent, q.q_lat, q.q_lat_stride, r.latent_dim);
  part(rope, q.q_rope, q.q_rope_stride, r.rope_dim);
  for (int h = 0; h < NH; ++h)
    for (int b = 0; b < NB; ++b) scores[h * r.count + b] = _mm512_reduce_add_ps(acc[h][b]);
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
      for (int v = 0; v < NV; ++v) acc[h][v] = _mm512_fmadd_ps(ph, x[v], acc[h][v]);
    }
  }
  for (int h = 0; h < NH; ++h)
    for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(o + h * o_stride + c0 + 16 * v, first_lanes(width - 16 * v), acc[h][v]);
}

template <int NH, class E>
void raw_scores(const E* const* latent, const E* const* rope, const LatentRows& r, const LatentQueries& q, float* scores) {
  std::int64_t j = 0;
  for (; j + 4 <= r.count; j += 4) score_block<NH, 4>(latent + j, rope + j, r, q, scores + j);
  switch (r.count - j) {
    case 3: score_block<NH, 3>(latent + j, rope + j, r, q, scores + j); break;
    case 2: score_block<NH, 2>(latent + j, rope + j, r, q, scores + j); break;
    case 1: score_block<NH, 1>(latent + j, rope + j, r, q, scores + j); break;
    default: break;
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
inline float value(const float* p, std::int64_t i) { return p[i]; }
inline float value(const std::uint16_t* p, std::int64_t i) { return f16_to_f32(p[i]); }

template <int NH, class E>
void raw_scores(const E* const* latent, const E* const* rope, const LatentRows& r, const LatentQueries& q, float* scores) {
  for (int h = 0; h < NH; ++h)
    for (std::int64_t j = 0; j < r.count; ++j) {
      float s = 0.0f;
      for (std::int64_t i = 0; i < r.latent_dim; ++i) s += q.q_lat[h * q.q_lat_stride + i] * value(latent[j], i);
      for (std::int64_t i = 0; i < r.rope_dim; ++i) s += q.q_rope[h * q.q_rope_stride + i] * value(rope[j], i);
      scores[h * r.count + j] = s;
    }
}

template <int NH, class E>
void weighted_sum(const E* const* latent, const float* p, std::int64_t count, std::int64_t R, float* o, std::int64_t o_stride) {
  for (int h = 0; h < NH; ++h) {
    float* oh = o + h * o_stride;
    std::fill(oh, oh + R, 0.0f);
    for (std::int64_t j = 0; j < count; ++j)
      for (std::int64_t i = 0; i < R; ++i) oh[i] += p[h * count + j] * value(latent[j], i);
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
