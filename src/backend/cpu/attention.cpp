#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kv_rows_cpu.h"
#include "backend/cpu/row_kernels.h"
#include "backend/cpu/transposed_matmul.h"

namespace glmq {

namespace {
// From this many queries on, the per-head products decode their matrix to a transposed float32 copy
// (transposed_matmul.h); below it (decoding) they go through the weight type's row kernels.
constexpr std::int64_t kTransposedTokens = 8;
}  // namespace

// Weight absorption means scores read the latent c_j directly and W_UV is applied once per head. Three parallel
// jobs: per head, q̃ = W_UKᵀ q_nope for every query; per query (and group of heads), the selected cache rows are
// decoded once and shared by its heads for scores, softmax and õ = Σ p_j c_j; per head, o = W_UV õ for every query.
// The per-head products go through MatmulInput, so they use the fast kernels of the weights' type.
void CpuBackend::mla_attention(const MlaAttentionArgs& a) {
  const std::int64_t qk = a.nope_dim + a.rope_dim, R = a.latent_dim, P = a.rope_dim, n = a.n_queries, H = a.heads;
  const bool direct = a.latent.format == KvFormat::F32 && a.k_rope.format == KvFormat::F32;
  // Scores: the fast kernels' dot (four accumulators) or the reference one.
  const auto dot = kernels_ == CpuKernels::Fast ? cpu::dot_f32_unrolled : cpu::dot_f32;
  if (observer_)
    // The absorbed halves of kv_b multiply per head: W_UK the nope part of each query, W_UV the attention output õ.
    for (std::int64_t h = 0; h < H; ++h) observer_->observe(a.k_absorb.row_range(h * R, R), a.q + h * qk, n, H * qk);
  q_latent_.resize(static_cast<std::size_t>(n * H * R));
  o_latent_.resize(static_cast<std::size_t>(n * H * R));

  // y[t·ys + r] = W x[t·xs] for one head's matrix and every query.
  auto per_head = [&](const WeightMatrix& w, const float* x, std::int64_t xs, float* y, std::int64_t ys) {
    if (kernels_ == CpuKernels::Fast && n >= kTransposedTokens) {
      thread_local std::vector<float> transposed;
      cpu::transposed_matmul(w, x, n, xs, y, ys, transposed);
      return;
    }
    thread_local cpu::MatmulInput in;
    in.reset(w, x, n, xs, kernels_);
    in.prepare_all();
    in.multiply(w, 0, w.rows, 0, n, y, ys);
  };
  pool_->run(H, [&](std::int64_t h) { per_head(a.k_absorb.row_range(h * R, R), a.q + h * qk, H * qk, q_latent_.data() + h * R, H * R); });

  // With few queries, heads are split into groups so both threads get work; each group decodes its query's rows.
  const std::int64_t groups = n >= 2 * threads_ ? 1 : std::min<std::int64_t>(H, 2 * threads_);
  const std::int64_t per_group = (H + groups - 1) / groups;
  pool_->run(n * groups, [&](std::int64_t c) {
    const std::int64_t t = c / groups, h0 = c % groups * per_group, h1 = std::min(H, h0 + per_group);
    const std::int64_t count = a.selection_count[t];
    const std::int32_t* sel = a.selection + t * a.selection_stride;
    // Rows of the selected positions as floats: pointers into the cache (float32) or decoded copies.
    thread_local std::vector<float> gathered, scores;
    thread_local std::vector<const float*> rows;
    gathered.resize(static_cast<std::size_t>(direct ? 0 : count * (R + P)));
    rows.resize(static_cast<std::size_t>(2 * count));
    scores.resize(static_cast<std::size_t>(count));
    for (std::int64_t j = 0; j < count; ++j) {
      float* buf = direct ? nullptr : gathered.data() + j * (R + P);
      rows[static_cast<std::size_t>(2 * j)] = cpu::kv_row(a.latent, sel[j], buf);
      rows[static_cast<std::size_t>(2 * j + 1)] = cpu::kv_row(a.k_rope, sel[j], direct ? nullptr : buf + R);
    }
    for (std::int64_t h = h0; h < h1; ++h) {
      const float* q_lat = q_latent_.data() + (t * H + h) * R;
      const float* q_rope = a.q + (t * H + h) * qk + a.nope_dim;
      float max_score = -INFINITY;
      for (std::int64_t j = 0; j < count; ++j) {
        float s = dot(q_lat, rows[static_cast<std::size_t>(2 * j)], R) + dot(q_rope, rows[static_cast<std::size_t>(2 * j + 1)], P);
        s *= a.scale;
        scores[static_cast<std::size_t>(j)] = s;
        max_score = std::max(max_score, s);
      }
      float sum = 0.0f;
      for (auto& s : scores) {
        s = std::exp(s - max_score);
        sum += s;
      }
      float* o_lat = o_latent_.data() + (t * H + h) * R;
      std::fill(o_lat, o_lat + R, 0.0f);
      for (std::int64_t j = 0; j < count; ++j)
        cpu::axpy_f32(scores[static_cast<std::size_t>(j)] / sum, rows[static_cast<std::size_t>(2 * j)], o_lat, R);
    }
  });

  if (observer_)
    for (std::int64_t h = 0; h < H; ++h)
      observer_->observe(a.v_expand.row_range(h * a.v_dim, a.v_dim), o_latent_.data() + h * R, n, H * R);
  pool_->run(H, [&](std::int64_t h) {
    per_head(a.v_expand.row_range(h * a.v_dim, a.v_dim), o_latent_.data() + h * R, H * R, a.out + h * a.v_dim, H * a.v_dim);
  });
}

}  // namespace glmq
