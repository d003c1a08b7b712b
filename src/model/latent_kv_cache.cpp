#include "model/latent_kv_cache.h"

#include "core/error.h"

namespace glmq {

LatentKvCache::LatentKvCache(const GlmConfig& c, Backend& backend, std::int64_t capacity) : capacity_(capacity) {
  if (capacity <= 0) fail(ErrorKind::InvalidArgument, "cache capacity must be positive, found " + std::to_string(capacity));
  const auto cap = static_cast<std::size_t>(capacity);
  layers_.resize(static_cast<std::size_t>(c.num_hidden_layers));
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    layers_[l].latent.resize(backend, cap * static_cast<std::size_t>(c.kv_lora_rank));
    layers_[l].k_rope.resize(backend, cap * static_cast<std::size_t>(c.qk_rope_head_dim));
    // Only layers that run the indexer keep indexer keys ("shared" layers reuse a selection, not keys).
    if (c.layer_runs_indexer[l]) layers_[l].index_keys.resize(backend, cap * static_cast<std::size_t>(c.index_head_dim));
  }
}

void LatentKvCache::set_length(std::int64_t n) {
  if (n < 0 || n > capacity_)
    fail(ErrorKind::Capacity, "cache length " + std::to_string(n) + " outside 0.." + std::to_string(capacity_));
  length_ = n;
}

float* LatentKvCache::index_keys(std::int64_t layer) {
  return layers_[static_cast<std::size_t>(layer)].index_keys.data();
}

std::size_t LatentKvCache::bytes() const {
  std::size_t n = 0;
  for (const auto& l : layers_) n += l.latent.bytes() + l.k_rope.bytes() + l.index_keys.bytes();
  return n;
}

}  // namespace glmq
