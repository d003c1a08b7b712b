#pragma once
// One request's generation, shared by the HTTP thread that waits on it and the scheduler thread that advances
// it. The scheduler appends tokens and finally a finish reason; the HTTP side takes what arrived so far and
// may cancel (client gone, stop string seen), after which the scheduler frees the sequence slot.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "runtime/sampler.h"
#include "serve/json_object_constraint.h"

namespace glmq::serve {

struct GenerationInput {
  std::vector<std::int32_t> prompt;
  SamplingParams sampling;
  std::int64_t max_tokens = 0;  // already fitted to the context
  std::vector<std::pair<std::int32_t, float>> logit_bias;
  // When set, the first token is drawn from these only (the markup that must follow a forced tool name).
  std::vector<std::int32_t> first_token_choices;
  // JSON mode; only the scheduler thread uses it once the job is submitted.
  std::shared_ptr<JsonObjectConstraint> json_object;
  bool ignore_eos = false;
  bool logprobs = false;
  int top_logprobs = 0;
};

struct GeneratedToken {
  std::int32_t id = 0;
  bool is_stop = false;  // an end-of-turn id: counted, never shown
  float logprob = 0.0f;
  std::vector<std::pair<std::int32_t, float>> top;  // most likely alternatives, best first
};

enum class FinishReason { Running, Stop, Length, Cancelled, Error };

class GenerationJob {
 public:
  explicit GenerationJob(GenerationInput input) : input_(std::move(input)) {}
  const GenerationInput& input() const { return input_; }

  struct Update {
    std::vector<GeneratedToken> tokens;
    FinishReason finish = FinishReason::Running;
    std::string error;
  };
  // Tokens that arrived since the last call, waiting up to `timeout` when there are none yet.
  Update take(std::chrono::milliseconds timeout);
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

  // Scheduler side.
  void deliver(GeneratedToken token);
  void finish(FinishReason reason, std::string error = {});

 private:
  const GenerationInput input_;
  std::atomic<bool> cancelled_{false};
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<GeneratedToken> pending_;
  FinishReason finish_ = FinishReason::Running;
  std::string error_;
};

}  // namespace glmq::serve
