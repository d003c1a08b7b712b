#pragma once
// KL divergence of this build's next-token distributions from a base build's, with the statistics
// llama-perplexity's KLD mode prints: mean KLD ± standard error and its quantiles, top-1 agreement ("same
// top"), change in the target's probability (Δp), and both perplexities over the same predictions.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "eval/logprob_file.h"
#include "eval/nll_stats.h"

namespace glmq::eval {

struct KldRow {
  double kld = 0;         // KL(base ‖ this) in nats
  bool same_top = false;  // the two builds' most probable ids agree
  double delta_p = 0;     // p_this(target) − p_base(target)
};

// With the full base distribution: Σ p_base·(log p_base − log p_this). With top-k: the k ids plus one bucket
// for the rest of the probability mass on each side — a lower bound of the full KL divergence that is tight
// when the top k hold nearly all of the base's mass.
KldRow compare_with_base(const BaseDistribution& base, std::span<const double> log_probs);

class KldStats {
 public:
  void add(const KldRow& row, double base_nll, double nll);
  std::int64_t count() const { return static_cast<std::int64_t>(klds_.size()); }
  double mean_kld() const;
  double mean_kld_stderr() const;
  // q in [0, 1]: the q-quantile of the per-token KL divergences (nearest rank).
  double kld_quantile(double q) const;
  double max_kld() const;
  double same_top_fraction() const;
  double same_top_stderr() const;
  double rms_delta_p() const;
  const NllStats& base_nll() const { return base_; }
  const NllStats& nll() const { return this_; }
  // The report, one statistic per line.
  std::string report() const;

 private:
  std::vector<double> klds_;
  NllStats kld_stats_, base_, this_, delta_p_;
  double delta_p_sq_ = 0;
  std::int64_t same_top_ = 0;
};

}  // namespace glmq::eval
