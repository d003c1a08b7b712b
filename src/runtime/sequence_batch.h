#pragma once
// SequenceBatch: many conversations over one model, advanced together. Each slot owns a latent cache; a step
// feeds any mix of prompt chunks and single decode tokens of several slots through one forward pass, so the
// weights are read once for all of them (continuous batching).
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "model/forward.h"
#include "model/latent_kv_cache.h"
#include "model/weights.h"

namespace glmq {

class SequenceBatch {
 public:
  SequenceBatch(const Weights& weights, Backend& backend, int max_sequences, std::int64_t context, const KvCacheOptions& kv = {});

  // A free slot (its cache empty); Capacity error when all are taken.
  int acquire();
  void release(int slot);
  int free_slots() const;
  int max_sequences() const { return static_cast<int>(slots_.size()); }
  std::int64_t context() const { return context_; }
  std::int64_t position(int slot) const;
  // Drops cached tokens past `length` (e.g. to reuse a shared prompt prefix).
  void truncate(int slot, std::int64_t length);

  struct Step {
    int slot = -1;
    std::span<const std::int32_t> tokens;
    bool all_logits = false;
  };
  // One forward pass over all steps (each slot at most once). Returns each step's logits: [vocab] (its last
  // token) or [tokens × vocab] with all_logits. The views stay valid until the next call.
  std::vector<std::span<const float>> step(std::span<const Step> steps);

 private:
  struct Slot {
    bool in_use = false;
    std::unique_ptr<LatentKvCache> cache;  // allocated on first use
  };
  Slot& slot_at(int slot);
  const Slot& slot_at(int slot) const;

  const Weights& weights_;
  Backend& backend_;
  std::int64_t context_;
  KvCacheOptions kv_;
  Forward forward_;
  std::vector<Slot> slots_;
  std::vector<SequenceChunk> chunks_;
  std::vector<float> logits_;
};

}  // namespace glmq
