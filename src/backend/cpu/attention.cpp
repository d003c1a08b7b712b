#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/row_kernels.h"

namespace glmq {

void CpuBackend::mla_attention(const MlaAttentionArgs& a) {
  const std::int64_t qk = a.nope_dim + a.rope_dim;
  const std::int64_t R = a.latent_dim;
  const std::int64_t work = a.n_queries * a.heads;
  // Parallel only when the heads × positions work is worth a fork/join (see linear.cpp).
  std::int64_t positions = 0;
  for (std::int64_t t = 0; t < a.n_queries; ++t) positions += a.selection_count[t];
  const bool parallel = threads_ > 1 && work > 1 && positions * a.heads * R >= (1 << 18);
#pragma omp parallel num_threads(threads_) if (parallel)
  {
    std::vector<float> q_latent(static_cast<std::size_t>(R)), o_latent(static_cast<std::size_t>(R)), scores;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t item = 0; item < work; ++item) {
      const std::int64_t t = item / a.heads, h = item % a.heads;
      const float* q_nope = a.q + (t * a.heads + h) * qk;
      const float* q_rope = q_nope + a.nope_dim;
      // Absorb W_UK into the query: q̃ = W_UKᵀ q_nope, so scores read the latent directly.
      for (std::int64_t c = 0; c < R; ++c) q_latent[static_cast<std::size_t>(c)] = cpu::dot_row(a.k_absorb, h * R + c, q_nope);
      const std::int64_t count = a.selection_count[t];
      const std::int32_t* sel = a.selection + t * a.selection_stride;
      scores.resize(static_cast<std::size_t>(count));
      float max_score = -INFINITY;
      for (std::int64_t j = 0; j < count; ++j) {
        const std::int64_t pos = sel[j];
        float s = cpu::dot_f32(q_latent.data(), a.latent + pos * R, R) +
                  cpu::dot_f32(q_rope, a.k_rope + pos * a.rope_dim, a.rope_dim);
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
        cpu::axpy_f32(scores[static_cast<std::size_t>(j)] / sum, a.latent + sel[j] * R, o_latent.data(), R);
      // Expand through W_UV only once per head: o_h = W_UV õ.
      float* out = a.out + (t * a.heads + h) * a.v_dim;
      for (std::int64_t i = 0; i < a.v_dim; ++i)
        out[i] = cpu::dot_row(a.v_expand, h * a.v_dim + i, o_latent.data());
    }
  }
}

}  // namespace glmq
