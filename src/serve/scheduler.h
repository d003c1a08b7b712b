#pragma once
// The batch scheduler: one thread owns the SequenceBatch and advances every admitted request in the same
// forward pass — one token for each decoding request, and prompt chunks within a per-step budget for those
// still reading their prompt, so a long prompt never stalls the others' decoding. Requests wait in a bounded
// queue for a free slot; beyond it submit() refuses with 503. A cancelled request leaves at the next step.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "model/latent_kv_cache.h"
#include "model/weights.h"
#include "runtime/sequence_batch.h"
#include "serve/generation_job.h"
#include "serve/metrics.h"

namespace glmq::serve {

struct SchedulerOptions {
  int parallel = 4;               // sequence slots
  std::int64_t context = 4096;    // tokens per slot
  int max_queue = 64;             // requests waiting beyond the free slots
  std::int64_t prefill_budget = 256;  // prompt tokens per step, over all requests
  KvCacheOptions kv;                  // each slot's latent cache storage (--kv-bits, ...)
};

class Scheduler {
 public:
  Scheduler(const Weights& weights, Backend& backend, std::vector<std::int32_t> stop_ids, const SchedulerOptions& options,
            ServerMetrics& metrics);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request; an ApiError 503 (with the queue's state) when the queue is full.
  std::shared_ptr<GenerationJob> submit(GenerationInput input);
  const SchedulerOptions& options() const { return options_; }

 private:
  struct Active {
    std::shared_ptr<GenerationJob> job;
    int slot = -1;
    std::int64_t prompt_done = 0;
    std::int32_t last_token = -1;
    std::vector<std::int32_t> generated;
    std::unique_ptr<Sampler> sampler;
    std::vector<float> biased;  // logits plus logit_bias
  };
  void run();
  void admit_waiting();
  void drop_cancelled();
  void step_once();
  void sample_next(Active& a, std::span<const float> logits);
  void finish(std::size_t index, FinishReason reason, const std::string& error = {});
  void publish_load();
  bool is_stop(std::int32_t id) const;

  const Weights& weights_;
  SchedulerOptions options_;
  std::vector<std::int32_t> stop_ids_;
  ServerMetrics& metrics_;
  SequenceBatch batch_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<GenerationJob>> waiting_;  // guarded by mutex_
  int active_count_ = 0;                                 // guarded by mutex_
  bool stopping_ = false;                                // guarded by mutex_

  std::vector<Active> active_;  // scheduler thread only
  std::thread thread_;
};

}  // namespace glmq::serve
