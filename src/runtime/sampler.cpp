#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace glmq {

void validate(const SamplingParams& p) {
  if (!(p.temperature >= 0.0f) || p.temperature > 100.0f)
    fail(ErrorKind::InvalidArgument, "temperature must be in [0, 100], found " + std::to_string(p.temperature));
  if (p.top_k < 0) fail(ErrorKind::InvalidArgument, "top_k must be >= 0, found " + std::to_string(p.top_k));
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) fail(ErrorKind::InvalidArgument, "top_p must be in (0, 1], found " + std::to_string(p.top_p));
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) fail(ErrorKind::InvalidArgument, "min_p must be in [0, 1], found " + std::to_string(p.min_p));
  if (!(std::fabs(p.presence_penalty) <= 2.0f))
    fail(ErrorKind::InvalidArgument, "presence_penalty must be in [-2, 2], found " + std::to_string(p.presence_penalty));
  if (!(std::fabs(p.frequency_penalty) <= 2.0f))
    fail(ErrorKind::InvalidArgument, "frequency_penalty must be in [-2, 2], found " + std::to_string(p.frequency_penalty));
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) { validate(params); }

std::int32_t Sampler::sample(std::span<const float> logits, std::span<const std::int32_t> history) {
  const auto V = static_cast<std::int32_t>(logits.size());
  adjusted_.assign(logits.begin(), logits.end());
  if (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) {
    // OpenAI's definition: logit -= count·frequency_penalty + (count > 0)·presence_penalty.
    counts_.assign(static_cast<std::size_t>(V), 0);
    for (auto t : history)
      if (t >= 0 && t < V) ++counts_[static_cast<std::size_t>(t)];
    for (std::int32_t i = 0; i < V; ++i) {
      const auto c = counts_[static_cast<std::size_t>(i)];
      if (c > 0)
        adjusted_[static_cast<std::size_t>(i)] -= static_cast<float>(c) * params_.frequency_penalty + params_.presence_penalty;
    }
  }
  const float temperature = params_.temperature > 0.0f ? params_.temperature : 1.0f;
  // log-softmax (in double for the normaliser) of the temperature-scaled logits.
  const float mx = *std::max_element(adjusted_.begin(), adjusted_.end());
  double sum = 0.0;
  for (float v : adjusted_) sum += std::exp(static_cast<double>((v - mx) / temperature));
  const auto log_z = static_cast<float>(std::log(sum));
  log_probs_.resize(adjusted_.size());
  for (std::size_t i = 0; i < adjusted_.size(); ++i) log_probs_[i] = (adjusted_[i] - mx) / temperature - log_z;

  if (params_.temperature == 0.0f)
    return static_cast<std::int32_t>(std::max_element(adjusted_.begin(), adjusted_.end()) - adjusted_.begin());

  // Candidates, cut by top-k, min-p and top-p, then drawn from. Only top-k and top-p need them ordered by
  // probability; without those cuts the full-vocabulary sort (most of a decode step's sampling time on a
  // large vocabulary) is skipped and the draw runs over the ids in order.
  const bool ordered = params_.top_k > 0 || params_.top_p < 1.0f;
  std::size_t keep = static_cast<std::size_t>(V);
  if (!ordered) {
    candidates_.clear();
    const float best = *std::max_element(log_probs_.begin(), log_probs_.end());
    const float cut = params_.min_p > 0.0f ? best + std::log(params_.min_p) : -INFINITY;
    for (std::int32_t i = 0; i < V; ++i)
      if (log_probs_[static_cast<std::size_t>(i)] >= cut) candidates_.push_back(i);
    keep = candidates_.size();
  } else {
    candidates_.resize(static_cast<std::size_t>(V));
    std::iota(candidates_.begin(), candidates_.end(), 0);
    auto by_prob = [&](std::int32_t a, std::int32_t b) {
      return log_probs_[static_cast<std::size_t>(a)] > log_probs_[static_cast<std::size_t>(b)] ||
             (log_probs_[static_cast<std::size_t>(a)] == log_probs_[static_cast<std::size_t>(b)] && a < b);
    };
    if (params_.top_k > 0 && static_cast<std::size_t>(params_.top_k) < keep) {
      keep = static_cast<std::size_t>(params_.top_k);
      std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep), candidates_.end(), by_prob);
    } else {
      std::sort(candidates_.begin(), candidates_.end(), by_prob);
    }
    const float best = log_probs_[static_cast<std::size_t>(candidates_[0])];
    if (params_.min_p > 0.0f) {
      const float cut = best + std::log(params_.min_p);
      std::size_t k = 1;
      while (k < keep && log_probs_[static_cast<std::size_t>(candidates_[k])] >= cut) ++k;
      keep = k;
    }
  }
  double total = 0.0;
  std::vector<double>& weights = weights_;
  weights.resize(keep);
  for (std::size_t k = 0; k < keep; ++k) {
    weights[k] = std::exp(static_cast<double>(log_probs_[static_cast<std::size_t>(candidates_[k])]));
    total += weights[k];
  }
  if (params_.top_p < 1.0f) {
    double cum = 0.0;
    std::size_t k = 0;
    while (k < keep) {
      cum += weights[k] / total;
      ++k;
      if (cum >= params_.top_p) break;
    }
    keep = k;
    weights.resize(keep);
    total = std::accumulate(weights.begin(), weights.end(), 0.0);
  }
  std::uniform_real_distribution<double> u(0.0, total);
  double r = u(rng_);
  for (std::size_t k = 0; k < keep; ++k) {
    r -= weights[k];
    if (r <= 0.0) return candidates_[k];
  }
  return candidates_[keep - 1];
}

}  // namespace glmq
