#include "eval/kl_divergence.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace glmq::eval {

KldRow compare_with_base(const BaseDistribution& base, std::span<const double> log_probs) {
  KldRow row;
  const auto target = static_cast<std::size_t>(base.target);
  if (target >= log_probs.size())
    fail(ErrorKind::InvalidArgument, "KL divergence: base target id " + std::to_string(base.target) +
                                         " outside this model's vocabulary of " + std::to_string(log_probs.size()));
  if (base.ids.empty()) {
    if (base.log_probs.size() != log_probs.size())
      fail(ErrorKind::InvalidArgument, "KL divergence: base vocabulary of " + std::to_string(base.log_probs.size()) +
                                           " ids, this model has " + std::to_string(log_probs.size()));
    for (std::size_t i = 0; i < log_probs.size(); ++i) {
      const double p = std::exp(base.log_probs[i]);
      if (p > 0) row.kld += p * (base.log_probs[i] - log_probs[i]);
    }
  } else {
    double base_mass = 0, this_mass = 0;
    for (std::size_t i = 0; i < base.ids.size(); ++i) {
      const auto id = static_cast<std::size_t>(base.ids[i]);
      if (id >= log_probs.size())
        fail(ErrorKind::InvalidArgument, "KL divergence: base id " + std::to_string(id) + " outside this vocabulary");
      const double p = std::exp(base.log_probs[i]);
      row.kld += p * (base.log_probs[i] - log_probs[id]);
      base_mass += p;
      this_mass += std::exp(log_probs[id]);
    }
    const double base_rest = 1.0 - base_mass;
    if (base_rest > 1e-12) row.kld += base_rest * (std::log(base_rest) - std::log(std::max(1.0 - this_mass, 1e-30)));
  }
  const auto this_top =
      static_cast<std::int32_t>(std::max_element(log_probs.begin(), log_probs.end()) - log_probs.begin());
  row.same_top = this_top == base.top1;
  row.delta_p = std::exp(log_probs[target]) - std::exp(base.target_log_prob);
  return row;
}

void KldStats::add(const KldRow& row, double base_nll, double nll) {
  klds_.push_back(row.kld);
  kld_stats_.add(row.kld);
  base_.add(base_nll);
  this_.add(nll);
  delta_p_.add(row.delta_p);
  delta_p_sq_ += row.delta_p * row.delta_p;
  same_top_ += row.same_top ? 1 : 0;
}

double KldStats::mean_kld() const { return kld_stats_.mean(); }

double KldStats::mean_kld_stderr() const {
  return count() > 0 ? std::sqrt(kld_stats_.variance() / static_cast<double>(count())) : 0;
}

double KldStats::kld_quantile(double q) const {
  if (klds_.empty()) return 0;
  std::vector<double> sorted = klds_;
  const auto rank = static_cast<std::size_t>(std::llround(q * static_cast<double>(sorted.size() - 1)));
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(rank), sorted.end());
  return sorted[rank];
}

double KldStats::max_kld() const { return klds_.empty() ? 0 : *std::max_element(klds_.begin(), klds_.end()); }

double KldStats::same_top_fraction() const {
  return count() > 0 ? static_cast<double>(same_top_) / static_cast<double>(count()) : 0;
}

double KldStats::same_top_stderr() const {
  if (count() < 2) return 0;
  const double p = same_top_fraction();
  return std::sqrt(p * (1 - p) / static_cast<double>(count() - 1));
}

double KldStats::rms_delta_p() const { return count() > 0 ? std::sqrt(delta_p_sq_ / static_cast<double>(count())) : 0; }

std::string KldStats::report() const {
  char buf[2048];
  std::snprintf(buf, sizeof buf,
                "KL divergence vs base over %lld predictions\n"
                "  PPL(this)          : %.6f ± %.6f\n"
                "  PPL(base)          : %.6f ± %.6f\n"
                "  PPL(this)/PPL(base): %.6f (mean ln ratio %.6f)\n"
                "  Mean KLD           : %.6f ± %.6f\n"
                "  Maximum KLD        : %.6f\n"
                "  99.9%% KLD          : %.6f\n"
                "  99.0%% KLD          : %.6f\n"
                "  Median KLD         : %.6f\n"
                "  Mean Δp            : %.4f ± %.4f %%\n"
                "  RMS Δp             : %.4f %%\n"
                "  Same top p         : %.4f ± %.4f %%\n",
                static_cast<long long>(count()), this_.perplexity(), this_.perplexity_stderr(), base_.perplexity(),
                base_.perplexity_stderr(), this_.perplexity() / base_.perplexity(), this_.mean() - base_.mean(),
                mean_kld(), mean_kld_stderr(), max_kld(), kld_quantile(0.999), kld_quantile(0.99), kld_quantile(0.5),
                100 * delta_p_.mean(),
                100 * std::sqrt(delta_p_.variance() / std::max<double>(1, static_cast<double>(count()))),
                100 * rms_delta_p(), 100 * same_top_fraction(), 100 * same_top_stderr());
  return buf;
}

}  // namespace glmq::eval
