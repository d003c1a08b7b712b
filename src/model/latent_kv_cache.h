#pragma once
// LatentKvCache: per layer and position, the normalised MLA latent c (kv_lora_rank) and the rotated shared
// rope key (qk_rope_head_dim) — never expanded K/V — plus indexer keys on layers that run the indexer only.
// Each is stored as float32, float16 or 8/4-bit affine groups (KvRows); attention decodes rows on read.
#include <cstdint>
#include <string>
#include <vector>

#include "backend/buffer.h"
#include "backend/kv_rows.h"
#include "model/config.h"

namespace glmq {

// The library default is the exact float32 reference; the command-line tools default to 16-bit.
struct KvCacheOptions {
  int kv_bits = 32;            // the latent: 32 (exact float32), 16 (float16), 8 or 4 (affine groups)
  // The 64 rope values per token: 0 = float16 under 8/4-bit latents (measured on glm-mini: q8 KL 0.0029 → 0.0012
  // for +60 bytes per token and layer, bench/kv_cache.md), else as kv_bits; or 32/16/8/4 explicitly.
  int rope_bits = 0;
  int indexer_bits = 0;        // indexer keys: 0 = 16 (32 when kv_bits is 32)
  std::int64_t group_size = 64;
  std::int64_t quantized_start = 0;  // with kv_bits 8/4: stay float16 until the cache holds this many tokens
  // Checks the values (InvalidArgument naming the flag on error).
  void validate() const;
  std::string describe() const;  // e.g. "latent q8 g64, rope f16, indexer f16"
  int effective_rope_bits() const { return rope_bits ? rope_bits : (kv_bits < 16 ? 16 : kv_bits); }
};

class LatentKvCache {
 public:
  // Reserves `capacity` positions for every layer in the backend's memory. On the CPU the pages are only
  // touched when written, so a long context costs memory as it fills.
  LatentKvCache(const GlmConfig& config, Backend& backend, std::int64_t capacity, const KvCacheOptions& options = {});

  std::int64_t capacity() const { return capacity_; }
  std::int64_t length() const { return length_; }
  void set_length(std::int64_t n);
  void clear();

  const KvRows& latent(std::int64_t layer) const { return layers_[static_cast<std::size_t>(layer)].latent.rows; }
  const KvRows& k_rope(std::int64_t layer) const { return layers_[static_cast<std::size_t>(layer)].k_rope.rows; }
  // Empty on layers that reuse another layer's selection ("shared").
  const KvRows& index_keys(std::int64_t layer) const { return layers_[static_cast<std::size_t>(layer)].index_keys.rows; }

  // Before appending tokens: converts a float16 cache to its quantized format once it holds
  // options.quantized_start tokens (mlx-lm's --quantized-kv-start), re-encoding what it holds.
  void prepare_for_append();
  bool quantized() const;
  // Bytes reserved for `capacity` positions, and bytes per cached token (all layers).
  std::size_t bytes() const;
  std::size_t bytes_per_token() const;
  const KvCacheOptions& options() const { return options_; }

 private:
  struct Tensor {
    KvRows rows;
    BackendBuffer<std::uint8_t> data;
    BackendBuffer<std::uint16_t> scales, biases;
  };
  struct Layer {
    Tensor latent, k_rope, index_keys;
  };
  void allocate(Tensor& t, KvFormat format, std::int64_t width);
  void convert(Tensor& t, KvFormat format);

  Backend& backend_;
  KvCacheOptions options_;
  std::int64_t capacity_;
  std::int64_t length_ = 0;
  bool pending_quantization_ = false;
  KvFormat latent_format_, rope_format_;
  std::vector<Layer> layers_;
};

}  // namespace glmq
