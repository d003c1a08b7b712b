#include "eval/log_softmax.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace glmq::eval {

double log_sum_exp(std::span<const float> logits) {
  if (logits.empty()) fail(ErrorKind::InvalidArgument, "log_sum_exp: empty row of logits");
  const double max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  return max + std::log(sum);
}

double token_log_prob(std::span<const float> logits, std::int32_t target) {
  if (target < 0 || static_cast<std::size_t>(target) >= logits.size())
    fail(ErrorKind::InvalidArgument,
         "token id " + std::to_string(target) + " outside a row of " + std::to_string(logits.size()) + " logits");
  return static_cast<double>(logits[static_cast<std::size_t>(target)]) - log_sum_exp(logits);
}

void log_softmax(std::span<const float> logits, std::vector<double>& out) {
  const double lse = log_sum_exp(logits);
  out.resize(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - lse;
}

}  // namespace glmq::eval
