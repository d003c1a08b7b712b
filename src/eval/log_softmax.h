#pragma once
// Log-probabilities from a row of logits, computed in double so that sums over 10^5 tokens and differences
// between builds are not limited by float rounding.
#include <cstdint>
#include <span>
#include <vector>

namespace glmq::eval {

// log Σ exp(logits), in double with the maximum subtracted first.
double log_sum_exp(std::span<const float> logits);

// log p(target) under softmax(logits).
double token_log_prob(std::span<const float> logits, std::int32_t target);

// All log-probabilities of the row, written to `out` (resized to the row's length).
void log_softmax(std::span<const float> logits, std::vector<double>& out);

}  // namespace glmq::eval
