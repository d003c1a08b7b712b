#include <omp.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kv_rows_cpu.h"
#include "backend/cpu/row_kernels.h"

namespace glmq {

void CpuBackend::indexer_select(const IndexerArgs& a) {
  const std::int64_t last = a.n_queries > 0 ? a.positions[a.n_queries - 1] + 1 : 0;
  const bool parallel = threads_ > 1 && a.n_queries > 1 && a.n_queries * last * a.heads * a.head_dim >= (1 << 20);
#pragma omp parallel num_threads(threads_) if (parallel)
  {
    // One score row per query and thread: never a [queries × positions] matrix (DESIGN principle 4).
    std::vector<float> scores, key(static_cast<std::size_t>(a.head_dim));
    std::vector<std::int32_t> order;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t t = 0; t < a.n_queries; ++t) {
      const std::int64_t visible = static_cast<std::int64_t>(a.positions[t]) + 1;
      std::int32_t* sel = a.selection + t * a.topk;
      if (visible <= a.topk) {
        std::iota(sel, sel + visible, 0);
        a.selection_count[t] = static_cast<std::int32_t>(visible);
        continue;
      }
      scores.resize(static_cast<std::size_t>(visible));
      const float* qt = a.q + t * a.heads * a.head_dim;
      const float* wt = a.head_weights + t * a.heads;
      for (std::int64_t j = 0; j < visible; ++j) {
        const float* k = cpu::kv_row(a.keys, j, key.data());
        float s = 0.0f;
        for (std::int64_t g = 0; g < a.heads; ++g) {
          float d = cpu::dot_f32(qt + g * a.head_dim, k, a.head_dim) * a.scale;
          s += wt[g] * std::max(d, 0.0f);
        }
        scores[static_cast<std::size_t>(j)] = s;
      }
      order.resize(static_cast<std::size_t>(visible));
      std::iota(order.begin(), order.end(), 0);
      // Highest score first; equal scores prefer the earlier position so results are deterministic.
      auto better = [&](std::int32_t x, std::int32_t y) {
        float sx = scores[static_cast<std::size_t>(x)], sy = scores[static_cast<std::size_t>(y)];
        return sx > sy || (sx == sy && x < y);
      };
      std::nth_element(order.begin(), order.begin() + a.topk - 1, order.end(), better);
      std::sort(order.begin(), order.begin() + a.topk);
      std::copy(order.begin(), order.begin() + a.topk, sel);
      a.selection_count[t] = static_cast<std::int32_t>(a.topk);
    }
  }
}

}  // namespace glmq
