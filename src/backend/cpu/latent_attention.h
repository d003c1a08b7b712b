#pragma once
// Absorbed MLA attention of one query over its selected cache rows, for the fast kernels: per head, scores against
// the absorbed query q̃ (latent part) and the rope query, softmax, and õ = Σ_j p_j c_j.
//
// Heads go four at a time through the rows: a row (scores) or a 64-column slab of all rows (õ) is read once for the
// four heads, from L1, instead of once per head. Float32 and float16 cache rows are read in place (float16 widened
// in registers, exactly), so decoding copies no rows before the heads start. Every sum is taken in the order of the
// per-head loop this replaces (row_kernels.h: dot_f32_unrolled per score part, axpy_f32 per row into õ), so the
// results are bit for bit the same: the indexer's top-k in later layers turns even last-bit differences into other
// selections (a different order moved glm-small's perplexity by up to 2e-3).
#include <cstdint>

namespace glmq::cpu {

// The selected rows of one query: latent[j] (latent_dim values) and rope[j] (rope_dim values) for j < count, all
// float32 or all float16 (binary16 bits).
struct LatentRows {
  bool f16 = false;
  const void* const* latent = nullptr;
  const void* const* rope = nullptr;
  std::int64_t count = 0, latent_dim = 0, rope_dim = 0;
};

// The query's heads h < heads: q_lat + h·q_lat_stride (latent_dim values), q_rope + h·q_rope_stride (rope_dim).
struct LatentQueries {
  std::int64_t heads = 0;
  const float* q_lat = nullptr;
  std::int64_t q_lat_stride = 0;
  const float* q_rope = nullptr;
  std::int64_t q_rope_stride = 0;
  float scale = 1.0f;
};

// For every head h: p_h = softmax_j(scale·(q_lat_h·latent[j] + q_rope_h·rope[j])) and
// o_lat + h·o_stride = Σ_j p_h[j]·latent[j] (latent_dim values). `scores` is scratch of heads × count floats.
// count must be at least 1.
void attend_latent_rows(const LatentRows& rows, const LatentQueries& queries, float* scores, float* o_lat,
                        std::int64_t o_stride);

}  // namespace glmq::cpu
