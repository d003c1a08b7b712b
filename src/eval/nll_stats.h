#pragma once
// Running mean and variance of per-token negative log-likelihoods, giving perplexity and its standard error
// by the delta method (SE(ppl) = ppl · sd(nll) / √n, with sd over n−1), as mlx_lm.perplexity and
// llama-perplexity report it.
#include <cstdint>

namespace glmq::eval {

class NllStats {
 public:
  void add(double nll);
  std::int64_t count() const { return count_; }
  double mean() const { return mean_; }
  // Sample variance (ddof = 1); 0 for fewer than two values.
  double variance() const;
  double perplexity() const;
  double perplexity_stderr() const;

 private:
  // Welford's update keeps the variance exact over 10^5+ values of similar size.
  std::int64_t count_ = 0;
  double mean_ = 0, m2_ = 0;
};

}  // namespace glmq::eval
