#include <algorithm>
#include <numeric>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/indexer_tile.h"
#include "backend/cpu/kv_rows_cpu.h"
#include "backend/cpu/row_kernels.h"
#include "backend/cpu/work_split.h"

namespace glmq {

void CpuBackend::indexer_select(const IndexerArgs& a) {
  const std::int64_t dim = a.head_dim, tile = cpu::kIndexerKeyTile;
  // The fast kernels score a tile of keys for a block of queries at a time (indexer_tile.h); the reference path
  // scores one (query, key) pair at a time.
  const bool tiled = kernels_ != CpuKernels::Reference;
  // Scores of queries [t0, t1) against cache rows [j0, j1), written at out[(t − t0)·stride + j].
  auto score = [&](std::int64_t t0, std::int64_t t1, std::int64_t j0, std::int64_t j1, float* out, std::int64_t stride) {
    if (tiled) {
      thread_local std::vector<float> kt, row;
      kt.resize(static_cast<std::size_t>(dim * tile));
      row.resize(static_cast<std::size_t>(dim));
      for (std::int64_t j = j0; j < j1; j += tile) {
        const std::int64_t nk = std::min(tile, j1 - j);
        cpu::load_key_tile(a.keys, j, nk, kt.data(), row.data());
        cpu::score_key_tile(a.q + t0 * a.heads * dim, a.head_weights + t0 * a.heads, t1 - t0, a.heads, dim, a.scale,
                            kt.data(), nk, out + j, stride);
      }
      return;
    }
    thread_local std::vector<float> key;
    key.resize(static_cast<std::size_t>(dim));
    for (std::int64_t t = t0; t < t1; ++t) {
      const float* qt = a.q + t * a.heads * dim;
      const float* wt = a.head_weights + t * a.heads;
      float* scores = out + (t - t0) * stride;
      for (std::int64_t j = j0; j < j1; ++j) {
        const float* k = cpu::kv_row(a.keys, j, key.data());
        float s = 0.0f;
        for (std::int64_t g = 0; g < a.heads; ++g) {
          float d = cpu::dot_f32(qt + g * dim, k, dim) * a.scale;
          s += wt[g] * std::max(d, 0.0f);
        }
        scores[j] = s;
      }
    }
  };
  // Highest score first; equal scores prefer the earlier position so results are deterministic.
  auto select = [&](std::int64_t t, const float* scores) {
    const std::int64_t visible = static_cast<std::int64_t>(a.positions[t]) + 1;
    thread_local std::vector<std::int32_t> order;
    order.resize(static_cast<std::size_t>(visible));
    std::iota(order.begin(), order.end(), 0);
    auto better = [&](std::int32_t x, std::int32_t y) { return scores[x] > scores[y] || (scores[x] == scores[y] && x < y); };
    std::nth_element(order.begin(), order.begin() + a.topk - 1, order.end(), better);
    std::sort(order.begin(), order.begin() + a.topk);
    std::copy(order.begin(), order.begin() + a.topk, a.selection + t * a.topk);
    a.selection_count[t] = static_cast<std::int32_t>(a.topk);
  };
  auto all_visible = [&](std::int64_t t) {
    const std::int64_t visible = static_cast<std::int64_t>(a.positions[t]) + 1;
    if (visible > a.topk) return false;
    std::iota(a.selection + t * a.topk, a.selection + t * a.topk + visible, 0);
    a.selection_count[t] = static_cast<std::int32_t>(visible);
    return true;
  };
  if (a.n_queries == 1) {
    // Decoding: split the one query's positions across the pool (whole tiles per chunk).
    if (all_visible(0)) return;
    const std::int64_t visible = static_cast<std::int64_t>(a.positions[0]) + 1;
    std::vector<float>& row = index_scores_;
    row.resize(static_cast<std::size_t>(visible));
    const std::int64_t per = std::max<std::int64_t>(tile, cpu::kChunkWork / (a.heads * dim) / tile * tile);
    pool_->run((visible + per - 1) / per,
               [&](std::int64_t c) { score(0, 1, c * per, std::min(visible, (c + 1) * per), row.data(), visible); });
    select(0, row.data());
    return;
  }
  // Prefill: a block of queries (one on the reference path) shares each decoded key tile. Its score rows, block ×
  // positions floats per thread, are the only memory that grows with the context: never a [queries × positions]
  // matrix (DESIGN principle 4).
  const std::int64_t block = tiled ? 8 : 1;
  pool_->run((a.n_queries + block - 1) / block, [&](std::int64_t c) {
    const std::int64_t t0 = c * block, t1 = std::min(a.n_queries, t0 + block);
    std::int64_t visible = 0;
    for (std::int64_t t = t0; t < t1; ++t)
      if (!all_visible(t)) visible = std::max<std::int64_t>(visible, static_cast<std::int64_t>(a.positions[t]) + 1);
    if (visible == 0) return;
    thread_local std::vector<float> scores;
    scores.resize(static_cast<std::size_t>((t1 - t0) * visible));
    score(t0, t1, 0, visible, scores.data(), visible);
    for (std::int64_t t = t0; t < t1; ++t)
      if (static_cast<std::int64_t>(a.positions[t]) + 1 > a.topk) select(t, scores.data() + (t - t0) * visible);
  });
}

}  // namespace glmq
