#pragma once
// Perplexity runs over a Session: strided windows over one long text, or independent fixed-length
// sequences (sampled perplexity). Both report each scored prediction to a visitor (for KL divergence and
// saving log-probabilities) and accumulate the negative log-likelihoods.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "eval/nll_stats.h"
#include "eval/strided_windows.h"
#include "runtime/session.h"

namespace glmq::eval {

// `logits` is the row that predicts `target`; `nll` is −log p(target) computed from it in double.
using ScoredRowVisitor = std::function<void(std::span<const float> logits, std::int32_t target, double nll)>;

struct PerplexityRun {
  NllStats nll;
  std::int64_t tokens_fed = 0;  // tokens run through the model (windows overlap, so more than were scored)
  double seconds = 0;
  double tokens_per_second() const { return seconds > 0 ? static_cast<double>(tokens_fed) / seconds : 0; }
};

// Runs every window from a fresh cache. Each window feeds its unscored head without logits and then the
// scored part with all logits, so no LM-head work is spent on predictions that are not scored.
PerplexityRun strided_perplexity(Session& session, std::span<const std::int32_t> tokens,
                                 const std::vector<StridedWindow>& windows, const ScoredRowVisitor& visit = {});

// Each sequence from a fresh cache: feeds all but its last token and scores predictions of tokens 1 … L−1,
// as mlx_lm.perplexity's eval_ppl does.
PerplexityRun sequences_perplexity(Session& session, const std::vector<std::vector<std::int32_t>>& sequences,
                                   const ScoredRowVisitor& visit = {});

}  // namespace glmq::eval
