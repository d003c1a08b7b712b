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
  // Scores of query t against cache rows [j0, j1).
  auto score = [&](std::int64_t t, std::int64_t j0, std::int64_t j1, float* scores) {
    thread_local std::vector<float> key;
    key.resize(static_cast<std::size_t>(a.head_dim));
    const float* qt = a.q + t * a.heads * a.head_dim;
    const float* wt = a.head_weights + t * a.heads;
    for (std::int64_t j = j0; j < j1; ++j) {
      const float* k = cpu::kv_row(a.keys, j, key.data());
      float s = 0.0f;
      for (std::int64_t g = 0; g < a.heads; ++g) {
        float d = cpu::dot_f32(qt + g * a.head_dim, k, a.head_dim) * a.scale;
        s += wt[g] * std::max(d, 0.0f);
      }
      scores[j] = s;
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
  // Fast kernels: scores a tile of keys for a block of queries at a time (indexer_tile.h). The reference path
  // below scores one (query, key) pair at a time.
  if (kernels_ == CpuKernels::Fast) {
    const std::int64_t dim = a.head_dim, tile = cpu::kIndexerKeyTile;
    // Scores of queries [t0, t1) against keys [j0, j1) (j0 a multiple of the tile) into rows `stride` apart.
    auto score_tiles = [&](std::int64_t t0, std::int64_t t1, std::int64_t j0, std::int64_t j1, float* out, std::int64_t stride) {
      thread_local std::vector<float> kt, row;
      kt.resize(static_cast<std::size_t>(dim * tile));
      row.resize(static_cast<std::size_t>(dim));
      for (std::int64_t j = j0; j < j1; j += tile) {
        const std::int64_t nk = std::min(tile, j1 - j);
        cpu::load_key_tile(a.keys, j, nk, kt.data(), row.data());
        cpu::score_key_tile(a.q + t0 * a.heads * dim, a.head_weights + t0 * a.heads, t1 - t0, a.heads, dim, a.scale,
                            kt.data(), nk, out + j, stride);
      }
    };
    if (a.n_queries == 1) {
      if (all_visible(0)) return;
      const std::int64_t visible = static_cast<std::int64_t>(a.positions[0]) + 1;
      std::vector<float>& row = index_scores_;
      row.resize(static_cast<std::size_t>(visible));
      const std::int64_t per = std::max<std::int64_t>(tile, cpu::kChunkWork / (a.heads * dim) / tile * tile);
      pool_->run((visible + per - 1) / per, [&](std::int64_t c) {
        score_tiles(0, 1, c * per, std::min(visible, (c + 1) * per), row.data(), visible);
      });
      select(0, row.data());
      return;
    }
    // A block of queries shares each decoded key tile; its score rows (block × positions floats per thread) are the
    // only memory that grows with the context.
    constexpr std::int64_t kBlock = 8;
    pool_->run((a.n_queries + kBlock - 1) / kBlock, [&](std::int64_t c) {
      const std::int64_t t0 = c * kBlock, t1 = std::min(a.n_queries, t0 + kBlock);
      std::int64_t visible = 0;
      for (std::int64_t t = t0; t < t1; ++t)
        if (!all_visible(t)) visible = std::max<std::int64_t>(visible, static_cast<std::int64_t>(a.positions[t]) + 1);
      if (visible == 0) return;
      thread_local std::vector<float> scores;
      scores.resize(static_cast<std::size_t>((t1 - t0) * visible));
      score_tiles(t0, t1, 0, visible, scores.data(), visible);
      for (std::int64_t t = t0; t < t1; ++t)
        if (static_cast<std::int64_t>(a.positions[t]) + 1 > a.topk) select(t, scores.data() + (t - t0) * visible);
    });
    return;
  }
  // One score row per query and thread: never a [queries × positions] matrix (DESIGN principle 4).
  if (a.n_queries == 1) {
    // Decoding: split the one query's positions across the pool.
    if (all_visible(0)) return;
    const std::int64_t visible = static_cast<std::int64_t>(a.positions[0]) + 1;
    std::vector<float>& row = index_scores_;
    row.resize(static_cast<std::size_t>(visible));
    const std::int64_t per = std::max<std::int64_t>(64, cpu::kChunkWork / (a.heads * a.head_dim));
    pool_->run((visible + per - 1) / per, [&](std::int64_t c) { score(0, c * per, std::min(visible, (c + 1) * per), row.data()); });
    select(0, row.data());
    return;
  }
  pool_->run(a.n_queries, [&](std::int64_t t) {
    if (all_visible(t)) return;
    thread_local std::vector<float> scores;
    scores.resize(static_cast<std::size_t>(a.positions[t]) + 1);
    score(t, 0, static_cast<std::int64_t>(scores.size()), scores.data());
    select(t, scores.data());
  });
}

}  // namespace glmq
