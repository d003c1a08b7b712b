#pragma once
// Token sampling: temperature, top-k, top-p, min-p and presence/frequency penalties, seeded so runs repeat.
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace glmq {

struct SamplingParams {
  float temperature = 0.0f;  // 0 → greedy (argmax)
  std::int32_t top_k = 0;    // 0 → off
  float top_p = 1.0f;        // 1 → off
  float min_p = 0.0f;        // 0 → off
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::uint64_t seed = 0;
};

// Throws InvalidArgument naming the field when a value is out of range.
void validate(const SamplingParams& params);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // Picks the next token; `history` holds the tokens generated so far (for the penalties).
  std::int32_t sample(std::span<const float> logits, std::span<const std::int32_t> history);
  // log-softmax of the logits after penalties and temperature, for logprobs reporting.
  const std::vector<float>& last_log_probs() const { return log_probs_; }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<float> adjusted_, log_probs_;
  std::vector<std::int32_t> candidates_;
  std::vector<std::int32_t> counts_;
  std::vector<double> weights_;
};

}  // namespace glmq
