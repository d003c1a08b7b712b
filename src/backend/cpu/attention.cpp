#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kv_rows_cpu.h"
#include "backend/cpu/latent_attention.h"
#include "backend/cpu/row_kernels.h"
#include "backend/cpu/transposed_matmul.h"

namespace glmq {

namespace {
// From this many queries on, the per-head products decode their matrix to a transposed float32 copy
// (transposed_matmul.h); below it (decoding) they go through the weight type's row kernels.
constexpr std::int64_t kTransposedTokens = 8;
// Heads per chunk when decoding: latent_attention.cpp takes heads four at a time through the rows.
constexpr std::int64_t kHeadGroup = 4;
}  // namespace

// Weight absorption means scores read the latent c_j directly and W_UV is applied once per head. The per-head
// products go through MatmulInput (the weight type's kernels) or, for many queries, transposed_matmul.
void CpuBackend::mla_attention(const MlaAttentionArgs& a) {
  const std::int64_t qk = a.nope_dim + a.rope_dim, R = a.latent_dim, P = a.rope_dim, n = a.n_queries, H = a.heads;
  const bool fast = kernels_ != CpuKernels::Reference;
  if (observer_)
    // The absorbed halves of kv_b multiply per head: W_UK the nope part of each query, W_UV the attention output õ.
    for (std::int64_t h = 0; h < H; ++h) observer_->observe(a.k_absorb.row_range(h * R, R), a.q + h * qk, n, H * qk);
  q_latent_.resize(static_cast<std::size_t>(n * H * R));
  o_latent_.resize(static_cast<std::size_t>(n * H * R));

  // Query t's selected rows: pointers into the cache where it holds float32 (or, for the fast kernels, float16)
  // rows, else rows decoded into buf.
  const bool in_place = (a.latent.format == KvFormat::F32 && a.k_rope.format == KvFormat::F32) ||
                        (fast && a.latent.format == KvFormat::F16 && a.k_rope.format == KvFormat::F16);
  auto select_rows = [&](std::int64_t t, std::vector<float>& buf, std::vector<const void*>& ptrs) {
    const std::int64_t count = a.selection_count[t];
    const std::int32_t* sel = a.selection + t * a.selection_stride;
    ptrs.resize(static_cast<std::size_t>(2 * count));
    cpu::LatentRows rows;
    rows.f16 = in_place && a.latent.format == KvFormat::F16;
    rows.latent = ptrs.data();
    rows.rope = ptrs.data() + count;
    rows.count = count;
    rows.latent_dim = R;
    rows.rope_dim = P;
    if (in_place) {
      for (std::int64_t j = 0; j < count; ++j) {
        ptrs[static_cast<std::size_t>(j)] = a.latent.row(sel[j]);
        ptrs[static_cast<std::size_t>(count + j)] = a.k_rope.row(sel[j]);
      }
      return rows;
    }
    buf.resize(static_cast<std::size_t>(count * (R + P)));
    for (std::int64_t j = 0; j < count; ++j) {
      float* b = buf.data() + j * (R + P);
      ptrs[static_cast<std::size_t>(j)] = cpu::kv_row(a.latent, sel[j], b);
      ptrs[static_cast<std::size_t>(count + j)] = cpu::kv_row(a.k_rope, sel[j], b + R);
    }
    return rows;
  };
  // Query t, heads [h0, h1): scores against its rows, softmax, õ = Σ p_j c_j into o_latent_.
  auto attend = [&](std::int64_t t, std::int64_t h0, std::int64_t h1, const cpu::LatentRows& rows) {
    thread_local std::vector<float> scores;
    scores.resize(static_cast<std::size_t>((h1 - h0) * rows.count));
    if (fast) {
      cpu::LatentQueries queries;
      queries.heads = h1 - h0;
      queries.q_lat = q_latent_.data() + (t * H + h0) * R;
      queries.q_lat_stride = R;
      queries.q_rope = a.q + (t * H + h0) * qk + a.nope_dim;
      queries.q_rope_stride = qk;
      queries.scale = a.scale;
      cpu::attend_latent_rows(rows, queries, scores.data(), o_latent_.data() + (t * H + h0) * R, R);
      return;
    }
    // The reference: per head one plain dot product per row and part, one axpy per row (rows are float32 here).
    const auto* latent = reinterpret_cast<const float* const*>(rows.latent);
    const auto* rope = reinterpret_cast<const float* const*>(rows.rope);
    for (std::int64_t h = h0; h < h1; ++h) {
      const float* q_lat = q_latent_.data() + (t * H + h) * R;
      const float* q_rope = a.q + (t * H + h) * qk + a.nope_dim;
      float* s = scores.data() + (h - h0) * rows.count;
      float max_score = -INFINITY;
      for (std::int64_t j = 0; j < rows.count; ++j) {
        s[j] = (cpu::dot_f32(q_lat, latent[j], R) + cpu::dot_f32(q_rope, rope[j], P)) * a.scale;
        max_score = std::max(max_score, s[j]);
      }
      float sum = 0.0f;
      for (std::int64_t j = 0; j < rows.count; ++j) {
        s[j] = std::exp(s[j] - max_score);
        sum += s[j];
      }
      float* o_lat = o_latent_.data() + (t * H + h) * R;
      std::fill(o_lat, o_lat + R, 0.0f);
      for (std::int64_t j = 0; j < rows.count; ++j) cpu::axpy_f32(s[j] / sum, latent[j], o_lat, R);
    }
  };
  // y[t·ys + r] = W x[t·xs] for one head's matrix and queries [t0, t1).
  auto per_head = [&](const WeightMatrix& w, const float* x, std::int64_t xs, float* y, std::int64_t ys, std::int64_t t0,
                      std::int64_t t1) {
    if (fast && t1 - t0 >= kTransposedTokens) {
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
    // Decoding: per query the master finds the selected rows (decodes them unless the cache holds them as floats),
    // then one job over groups of heads does everything else; a group shares each pass over the rows, and there are
    // as many groups as threads where the heads allow.
    const std::int64_t group = std::min(kHeadGroup, (H + threads_ - 1) / threads_);
    for (std::int64_t t = 0; t < n; ++t) {
      const cpu::LatentRows rows = select_rows(t, gathered_, row_ptrs_);
      pool_->run((H + group - 1) / group, [&](std::int64_t c) {
        const std::int64_t h0 = c * group, h1 = std::min(H, h0 + group);
        for (std::int64_t h = h0; h < h1; ++h) absorb(h, t, t + 1);
        attend(t, h0, h1, rows);
        for (std::int64_t h = h0; h < h1; ++h) expand(h, t, t + 1);
      });
    }
  } else {
    // Prefill: three jobs — per head q̃ for every query; per query its rows and all heads; per head o.
    pool_->run(H, [&](std::int64_t h) { absorb(h, 0, n); });
    pool_->run(n, [&](std::int64_t t) {
      thread_local std::vector<float> buf;
      thread_local std::vector<const void*> ptrs;
      attend(t, 0, H, select_rows(t, buf, ptrs));
    });
    pool_->run(H, [&](std::int64_t h) { expand(h, 0, n); });
  }

  if (observer_)
    for (std::int64_t h = 0; h < H; ++h)
      observer_->observe(a.v_expand.row_range(h * a.v_dim, a.v_dim), o_latent_.data() + h * R, n, H * R);
}

}  // namespace glmq
