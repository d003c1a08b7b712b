#pragma once
// The glm_moe_dsa forward pass, written against backend ops: embedding, per layer MLA + DSA attention
// and SwiGLU/MoE, final norm, LM head. One code path serves prefill (many tokens) and decode (one).
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "backend/buffer.h"
#include "model/latent_kv_cache.h"
#include "model/weights.h"

namespace glmq {

// Optional per-layer internals, recorded for tests and debugging.
struct ForwardTrace {
  std::vector<std::vector<float>> hidden;  // [num_layers + 1][n × hidden]: embeddings, then each layer's output
  // Per layer that runs the indexer: the selected positions of each query, [n][≤ index_topk] (ascending).
  std::vector<std::vector<std::vector<std::int32_t>>> selection;
};

// One sequence's part of a batched forward pass.
struct SequenceChunk {
  LatentKvCache* cache = nullptr;       // each cache at most once per batch
  const std::int32_t* tokens = nullptr;  // host ids, appended at positions cache->length() …
  std::int64_t n = 0;
  bool all_logits = false;              // logits for every token (else only the last)
};

class Forward {
 public:
  Forward(const Weights& weights, Backend& backend);

  // Runs several sequences in one pass: weights are read once for all their rows; attention and the indexer
  // run per sequence over its own cache. Returns logits in backend memory, chunk after chunk (all rows of a
  // chunk with all_logits, else its last row), [rows × vocab]. With a trace, exactly one chunk is allowed.
  const float* run_batch(std::span<const SequenceChunk> chunks, ForwardTrace* trace = nullptr);
  std::int64_t reserved_rows() const { return reserved_; }

  // Runs `n` tokens (host ids) at positions cache.length() … cache.length() + n − 1, appends them to the cache
  // and returns logits in backend memory: all n rows ([n × vocab]) when `all_logits`, else the last ([vocab]).
  const float* run(const std::int32_t* tokens, std::int64_t n, LatentKvCache& cache, bool all_logits,
                   ForwardTrace* trace = nullptr);

 private:
  void attention(std::int64_t layer, std::int64_t n, std::span<const SequenceChunk> chunks, ForwardTrace* trace);
  void feed_forward(std::int64_t layer, std::int64_t n);
  void reserve(std::int64_t n);

  const Weights& w_;
  const GlmConfig& c_;
  Backend& be_;
  RopeSpec rope_, indexer_rope_;
  std::int64_t reserved_ = 0;
  // Workspace in backend memory, sized for the largest call so far (decode reuses it without allocating).
  BackendBuffer<float> x_, a_, qa_, qr_, q_, ckv_, latent_, attn_, proj_, ffn_, logits_;
  BackendBuffer<float> router_logits_, route_w_, iq_, ik_, iw_;
  BackendBuffer<std::int32_t> tokens_, positions_, route_e_, selection_, selection_count_;
  std::vector<std::int32_t> host_positions_, host_tokens_;
  std::vector<std::int64_t> chunk_row_, chunk_pos0_;  // first row and first position of each chunk
  std::vector<std::int64_t> chunk_bound_;  // the indexer's positions_bound of each chunk (rounded up)
  std::vector<std::int64_t> step_key_;     // Backend::run_step's key of this pass
  std::unique_ptr<StepGraph> step_graph_;  // the backend's recording of small passes, if it makes them
};

}  // namespace glmq
