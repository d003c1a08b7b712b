#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kv_rows_cpu.h"
#include "backend/cpu/row_kernels.h"

namespace glmq {

// Query by query: the selected cache rows are decoded once (not once per head) into a buffer, then the heads
// share them. Weight absorption means scores read the latent c_j directly and W_UV is applied once per head.
void CpuBackend::mla_attention(const MlaAttentionArgs& a) {
  const std::int64_t qk = a.nope_dim + a.rope_dim, R = a.latent_dim, P = a.rope_dim;
  const bool direct = a.latent.format == KvFormat::F32 && a.k_rope.format == KvFormat::F32;
  if (observer_) {
    // The absorbed halves of kv_b multiply per head: W_UK the nope part of each query, W_UV the attention output õ.
    for (std::int64_t h = 0; h < a.heads; ++h)
      observer_->observe(a.k_absorb.row_range(h * R, R), a.q + h * qk, a.n_queries, a.heads * qk);
    observed_latent_.resize(static_cast<std::size_t>(a.n_queries * a.heads * R));
  }
  for (std::int64_t t = 0; t < a.n_queries; ++t) {
    const std::int64_t count = a.selection_count[t];
    const std::int32_t* sel = a.selection + t * a.selection_stride;
    // Rows of the selected positions as floats: pointers into the cache (float32) or decoded copies.
    gathered_.resize(static_cast<std::size_t>(direct ? 0 : count * (R + P)));
    row_ptrs_.resize(static_cast<std::size_t>(2 * count));
    const bool parallel_rows = threads_ > 1 && !direct && count * (R + P) >= (1 << 16);
#pragma omp parallel for schedule(static) num_threads(threads_) if (parallel_rows)
    for (std::int64_t j = 0; j < count; ++j) {
      float* buf = direct ? nullptr : gathered_.data() + j * (R + P);
      row_ptrs_[static_cast<std::size_t>(2 * j)] = cpu::kv_row(a.latent, sel[j], buf);
      row_ptrs_[static_cast<std::size_t>(2 * j + 1)] = cpu::kv_row(a.k_rope, sel[j], direct ? nullptr : buf + R);
    }
    const bool parallel_heads = threads_ > 1 && a.heads > 1 && count * a.heads * R >= (1 << 16);
#pragma omp parallel num_threads(threads_) if (parallel_heads)
    {
      std::vector<float> q_latent(static_cast<std::size_t>(R)), o_latent(static_cast<std::size_t>(R)),
          scores(static_cast<std::size_t>(count));
#pragma omp for schedule(static)
      for (std::int64_t h = 0; h < a.heads; ++h) {
        const float* q_nope = a.q + (t * a.heads + h) * qk;
        const float* q_rope = q_nope + a.nope_dim;
        // Absorb W_UK into the query: q̃ = W_UKᵀ q_nope.
        for (std::int64_t c = 0; c < R; ++c) q_latent[static_cast<std::size_t>(c)] = cpu::dot_row(a.k_absorb, h * R + c, q_nope);
        float max_score = -INFINITY;
        for (std::int64_t j = 0; j < count; ++j) {
          float s = cpu::dot_f32(q_latent.data(), row_ptrs_[static_cast<std::size_t>(2 * j)], R) +
                    cpu::dot_f32(q_rope, row_ptrs_[static_cast<std::size_t>(2 * j + 1)], P);
          s *= a.scale;
          scores[static_cast<std::size_t>(j)] = s;
          max_score = std::max(max_score, s);
        }
        float sum = 0.0f;
        for (auto& s : scores) {
          s = std::exp(s - max_score);
          sum += s;
        }
        std::fill(o_latent.begin(), o_latent.end(), 0.0f);
        for (std::int64_t j = 0; j < count; ++j)
          cpu::axpy_f32(scores[static_cast<std::size_t>(j)] / sum, row_ptrs_[static_cast<std::size_t>(2 * j)], o_latent.data(), R);
        if (observer_) std::copy(o_latent.begin(), o_latent.end(), observed_latent_.begin() + (t * a.heads + h) * R);
        float* out = a.out + (t * a.heads + h) * a.v_dim;
        for (std::int64_t i = 0; i < a.v_dim; ++i) out[i] = cpu::dot_row(a.v_expand, h * a.v_dim + i, o_latent.data());
      }
    }
  }
  if (observer_)
    for (std::int64_t h = 0; h < a.heads; ++h)
      observer_->observe(a.v_expand.row_range(h * a.v_dim, a.v_dim), observed_latent_.data() + h * R, a.n_queries, a.heads * R);
}

}  // namespace glmq
