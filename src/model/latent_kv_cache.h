#pragma once
// LatentKvCache: per layer and position, the normalised MLA latent c (kv_lora_rank) and the rotated shared
// rope key (qk_rope_head_dim) — never expanded K/V — plus indexer keys on layers that run the indexer only.
#include <cstdint>
#include <vector>

#include "backend/buffer.h"
#include "model/config.h"

namespace glmq {

class LatentKvCache {
 public:
  // Allocates `capacity` positions for every layer in the backend's memory.
  LatentKvCache(const GlmConfig& config, Backend& backend, std::int64_t capacity);

  std::int64_t capacity() const { return capacity_; }
  std::int64_t length() const { return length_; }
  void set_length(std::int64_t n);
  void clear() { length_ = 0; }

  float* latent(std::int64_t layer) { return layers_[static_cast<std::size_t>(layer)].latent.data(); }
  float* k_rope(std::int64_t layer) { return layers_[static_cast<std::size_t>(layer)].k_rope.data(); }
  // nullptr on layers that reuse another layer's selection ("shared").
  float* index_keys(std::int64_t layer);
  std::size_t bytes() const;

 private:
  struct Layer {
    BackendBuffer<float> latent, k_rope, index_keys;
  };
  std::int64_t capacity_;
  std::int64_t length_ = 0;
  std::vector<Layer> layers_;
};

}  // namespace glmq
