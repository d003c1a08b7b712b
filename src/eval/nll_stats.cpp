#include "eval/nll_stats.h"

#include <cmath>

namespace glmq::eval {

void NllStats::add(double nll) {
  ++count_;
  const double delta = nll - mean_;
  mean_ += delta / static_cast<double>(count_);
  m2_ += delta * (nll - mean_);
}

double NllStats::variance() const { return count_ > 1 ? m2_ / static_cast<double>(count_ - 1) : 0.0; }

double NllStats::perplexity() const { return std::exp(mean_); }

double NllStats::perplexity_stderr() const {
  if (count_ == 0) return 0;
  return perplexity() * std::sqrt(variance() / static_cast<double>(count_));
}

}  // namespace glmq::eval
