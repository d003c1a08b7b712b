#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "backend/cpu/cpu_backend.h"

namespace glmq {

void CpuBackend::moe_route(const MoeRouteArgs& a) {
  const std::int64_t E = a.n_experts, per_group = E / a.n_group;
  std::vector<float> prob(static_cast<std::size_t>(E)), choice(static_cast<std::size_t>(E));
  std::vector<float> group_score(static_cast<std::size_t>(a.n_group));
  std::vector<std::int32_t> order(static_cast<std::size_t>(std::max(E, a.n_group)));
  for (std::int64_t t = 0; t < a.n_tokens; ++t) {
    const float* logit = a.logits + t * E;
    for (std::int64_t e = 0; e < E; ++e) {
      prob[static_cast<std::size_t>(e)] = 1.0f / (1.0f + std::exp(-logit[e]));
      // The correction bias steers the choice only; the weights use the plain sigmoid.
      choice[static_cast<std::size_t>(e)] = prob[static_cast<std::size_t>(e)] + a.correction_bias[e];
    }
    if (a.n_group > 1) {
      // Group score = sum of the group's two best choices; keep the topk_group best groups.
      for (std::int64_t g = 0; g < a.n_group; ++g) {
        float best = -std::numeric_limits<float>::infinity(), second = best;
        for (std::int64_t e = g * per_group; e < (g + 1) * per_group; ++e) {
          float c = choice[static_cast<std::size_t>(e)];
          if (c > best) {
            second = best;
            best = c;
          } else if (c > second) {
            second = c;
          }
        }
        group_score[static_cast<std::size_t>(g)] = best + second;
      }
      std::iota(order.begin(), order.begin() + a.n_group, 0);
      std::stable_sort(order.begin(), order.begin() + a.n_group, [&](std::int32_t x, std::int32_t y) {
        return group_score[static_cast<std::size_t>(x)] > group_score[static_cast<std::size_t>(y)];
      });
      for (std::int64_t r = a.topk_group; r < a.n_group; ++r) {
        const std::int64_t g = order[static_cast<std::size_t>(r)];
        for (std::int64_t e = g * per_group; e < (g + 1) * per_group; ++e)
          choice[static_cast<std::size_t>(e)] = -std::numeric_limits<float>::infinity();
      }
    }
    std::iota(order.begin(), order.begin() + E, 0);
    std::partial_sort(order.begin(), order.begin() + a.top_k, order.begin() + E, [&](std::int32_t x, std::int32_t y) {
      float cx = choice[static_cast<std::size_t>(x)], cy = choice[static_cast<std::size_t>(y)];
      return cx > cy || (cx == cy && x < y);
    });
    float sum = 0.0f;
    for (std::int64_t k = 0; k < a.top_k; ++k) sum += prob[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])];
    const float norm = a.norm_topk_prob ? 1.0f / (sum + 1e-20f) : 1.0f;
    for (std::int64_t k = 0; k < a.top_k; ++k) {
      const std::int32_t e = order[static_cast<std::size_t>(k)];
      a.experts[t * a.top_k + k] = e;
      a.weights[t * a.top_k + k] = prob[static_cast<std::size_t>(e)] * norm * a.routed_scaling_factor;
    }
  }
}

}  // namespace glmq
