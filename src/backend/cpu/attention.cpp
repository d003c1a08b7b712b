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

// Weight absorption means scores read the latent c_j directly and W_UV is applied once per head. The per-head
// products go through MatmulInput (the weight type's kernels) or, for many queries, transposed_matmul.
void CpuBackend::mla_attention(const MlaAttentionArgs& a) {
  const std::int64_t qk = a.nope_dim + a.rope_dim, R = a.latent_dim, P = a.rope_dim, n = a.n_queries, H = a.heads;
  const bool direct = a.latent.format == KvFormat::F32 && a.k_rope.format == KvFormat::F32;
  // Scores: the fast kernels' dot (four accumulators) or the reference one.
  const auto dot = kernels_ != CpuKernels::Reference ? cpu::dot_f32_unrolled : cpu::dot_f32;
  if (observer_)
    // The absorbed halves of kv_b multiply per head: W_UK the nope part of each query, W_UV the attention output õ.
    for (std::int64_t h = 0; h < H; ++h) observer_->observe(a.k_absorb.row_range(h * R, R), a.q + h * qk, n, H * qk);
  q_latent_.resize(static_cast<std::size_t>(n * H * R));
  o_latent_.resize(static_cast<std::size_t>(n * H * R));

  // Rows of query t's selected positions as floats: pointers into the cache (float32) or copies decoded into buf.
  auto gather = [&](std::int64_t t, std::vector<float>& buf, std::vector<const float*>& rows) {
    const std::int64_t count = a.selection_count[t];
    const std::int32_t* sel = a.selection + t * a.selection_stride;
    buf.resize(static_cast<std::size_t>(direct ? 0 : count * (R + P)));
    rows.resize(static_cast<std::size_t>(2 * count));
    for (std::int64_t j = 0; j < count; ++j) {
      float* b = direct ? nullptr : buf.data() + j * (R + P);
      rows[static_cast<std::size_t>(2 * j)] = cpu::kv_row(a.latent, sel[j], b);
      rows[static_cast<std::size_t>(2 * j + 1)] = cpu::kv_row(a.k_rope, sel[j], direct ? nullptr : b + R);
    }
  };
  // Query t, head h: scores against its rows, softmax, õ = Σ p_j c_j into o_latent_.
  auto attend = [&](std::int64_t t, std::int64_t h, const std::vector<const float*>& rows) {
    thread_local std::vector<float> scores;
    const std::int64_t count = a.selection_count[t];
    scores.resize(static_cast<std::size_t>(count));
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
  };
  // y[t·ys + r] = W x[t·xs] for one head's matrix and queries [t0, t1).
  auto per_head = [&](const WeightMatrix& w, const float* x, std::int64_t xs, float* y, std::int64_t ys, std::int64_t t0,
                      std::int64_t t1) {
    if (kernels_ != CpuKernels::Reference && t1 - t0 >= kTransposedTokens) {
      thread_local std::vector<float> transposed;
      cpu::transposed_matmul(w, x + t0 * xs, t1 - t0, xs, y + t0 * ys, ys, transposed);
      return;
    }
    thread_local cpu::MatmulInput in;
    in.reset(w, x, t1, xs, kernels_);
    in.prepare(t0, t1);
    in.multiply(w, 0, w.rows, t0, t1, y, ys);
  };
  auto absorb = [&](std::int64_t h, std::int64_t t0, std::int64_t t1) {
    per_head(a.k_absorb.row_range(h * R, R), a.q + h * qk, H * qk, q_latent_.data() + h * R, H * R, t0, t1);
  };
  auto expand = [&](std::int64_t h, std::int64_t t0, std::int64_t t1) {
    per_head(a.v_expand.row_range(h * a.v_dim, a.v_dim), o_latent_.data() + h * R, H * R, a.out + h * a.v_dim, H * a.v_dim, t0, t1);
  };

  if (n < kTransposedTokens) {
    // Decoding: per query the master decodes the selected rows once, then one job over heads does everything else.
    for (std::int64_t t = 0; t < n; ++t) {
      gather(t, gathered_, row_ptrs_);
      pool_->run(H, [&](std::int64_t h) {
        absorb(h, t, t + 1);
        attend(t, h, row_ptrs_);
        expand(h, t, t + 1);
      });
    }
  } else {
    // Prefill: three jobs — per head q̃ for every query; per query its rows and all heads; per head o.
    pool_->run(H, [&](std::int64_t h) { absorb(h, 0, n); });
    pool_->run(n, [&](std::int64_t t) {
      thread_local std::vector<float> buf;
      thread_local std::vector<const float*> rows;
      gather(t, buf, rows);
      for (std::int64_t h = 0; h < H; ++h) attend(t, h, rows);
    });
    pool_->run(H, [&](std::int64_t h) { expand(h, 0, n); });
  }

  if (observer_)
    for (std::int64_t h = 0; h < H; ++h)
      observer_->observe(a.v_expand.row_range(h * a.v_dim, a.v_dim), o_latent_.data() + h * R, n, H * R);
}

}  // namespace glmq
