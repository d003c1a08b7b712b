#pragma once
// Memory planning: what a model needs at a given context — weight bytes by component (from a build's real
// tensor types, or from a config and a recipe), latent and indexer cache bytes, forward-pass workspace.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/latent_kv_cache.h"
#include "quant/recipe.h"

namespace glmq {

struct Weights;

struct PlanLine {
  std::string item;
  std::int64_t params = 0;  // 0 for non-weight lines
  double bytes = 0;
  std::string detail;
};

struct MemoryPlan {
  std::vector<PlanLine> weights;  // by component
  std::vector<PlanLine> runtime;  // caches and workspace
  double weight_bytes = 0, runtime_bytes = 0;
  double total() const { return weight_bytes + runtime_bytes; }
};

struct PlanRequest {
  std::int64_t context = 0;
  KvCacheOptions kv;
  std::int64_t prefill_chunk = 512;
  int threads = 1;
};

// Weights as stored in a loaded build.
MemoryPlan plan_memory(const Weights& weights, const PlanRequest& request);
// Weights as a recipe would store them (16-bit sources assumed where the recipe keeps a tensor).
MemoryPlan plan_memory(const GlmConfig& config, const Recipe& recipe, const PlanRequest& request);

}  // namespace glmq
