#pragma once
// Session: a conversation's state over a model — its latent cache, position and forward workspace.
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "model/forward.h"
#include "model/latent_kv_cache.h"
#include "model/weights.h"

namespace glmq {

struct SessionStats {
  std::int64_t prompt_tokens = 0, decoded_tokens = 0;
  double prompt_seconds = 0, decode_seconds = 0;
  double prompt_tokens_per_second() const { return prompt_seconds > 0 ? static_cast<double>(prompt_tokens) / prompt_seconds : 0; }
  double decode_tokens_per_second() const { return decode_seconds > 0 ? static_cast<double>(decoded_tokens) / decode_seconds : 0; }
};

class Session {
 public:
  Session(const Weights& weights, Backend& backend, std::int64_t context, const KvCacheOptions& kv = {});

  // Appends tokens to the context. Returns the logits of the last one ([vocab]); with all_logits, of every
  // token ([tokens × vocab]). The view stays valid until the next call.
  std::span<const float> prefill(std::span<const std::int32_t> tokens, bool all_logits = false,
                                 ForwardTrace* trace = nullptr);
  // Appends one token and returns its logits.
  std::span<const float> decode(std::int32_t token);

  void reset();
  // Prompts longer than this go through the forward pass in pieces of this many tokens (default 512).
  void set_prefill_chunk(std::int64_t tokens);
  std::int64_t prefill_chunk() const { return prefill_chunk_; }
  // Rows the forward workspace is sized for (grows with the largest chunk run so far).
  std::int64_t workspace_rows() const { return forward_.reserved_rows(); }
  // Forgets every token past the first `length` (keeps the statistics), so that a shared prefix can be run
  // once and continued several ways.
  void truncate(std::int64_t length);
  std::int64_t position() const { return cache_.length(); }
  std::int64_t context() const { return cache_.capacity(); }
  const SessionStats& stats() const { return stats_; }
  const LatentKvCache& cache() const { return cache_; }

 private:
  const Weights& weights_;
  Backend& backend_;
  LatentKvCache cache_;
  Forward forward_;
  std::vector<float> logits_;
  SessionStats stats_;
  std::int64_t prefill_chunk_ = 512;
};

std::int32_t argmax(std::span<const float> logits);

}  // namespace glmq
