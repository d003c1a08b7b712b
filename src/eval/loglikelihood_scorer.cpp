#include "eval/loglikelihood_scorer.h"

#include <algorithm>

#include "core/error.h"
#include "eval/lm_eval_prompts.h"
#include "eval/log_softmax.h"

namespace glmq::eval {

namespace {
std::vector<std::int32_t> encode(const Tokenizer& tokenizer, std::string_view text) {
  const auto ids = tokenizer.encode(text, false);
  return {ids.begin(), ids.end()};
}

std::size_t common_prefix(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b) {
  const std::size_t n = std::min(a.size(), b.size());
  std::size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}
}  // namespace

EncodedRequest encode_pair(const Tokenizer& tokenizer, std::string_view context, std::string_view continuation) {
  const std::string trimmed_context = python_rstrip(context);
  const std::string moved_continuation =
      std::string(context.substr(trimmed_context.size())) + std::string(continuation);
  EncodedRequest out;
  out.context = encode(tokenizer, trimmed_context);
  auto whole = encode(tokenizer, trimmed_context + moved_continuation);
  const std::size_t split = std::min(out.context.size(), whole.size());
  out.continuation.assign(whole.begin() + static_cast<std::ptrdiff_t>(split), whole.end());
  return out;
}

std::vector<RequestScore> LoglikelihoodScorer::score(const std::vector<LoglikelihoodRequest>& requests) {
  std::vector<RequestScore> scores(requests.size());
  std::vector<std::vector<std::int32_t>> inputs(requests.size());
  std::size_t shared = SIZE_MAX;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    scores[i].tokens = encode_pair(tokenizer_, requests[i].context, requests[i].continuation);
    const auto& t = scores[i].tokens;
    if (t.context.empty())
      fail(ErrorKind::InvalidArgument, "a log-likelihood request with an empty context (nothing to condition on)");
    if (t.continuation.empty()) continue;  // log-likelihood 0, trivially greedy
    inputs[i] = t.context;
    inputs[i].insert(inputs[i].end(), t.continuation.begin(), t.continuation.end());
    inputs[i].pop_back();  // the last continuation token is only ever a target
    if (static_cast<std::int64_t>(inputs[i].size()) > session_.context())
      fail(ErrorKind::Capacity, "a request of " + std::to_string(inputs[i].size()) +
                                    " tokens does not fit the context of " + std::to_string(session_.context()));
    // The shared head stops before each request's last context token, so every request runs at least the
    // position whose logits predict its first continuation token.
    shared = std::min(shared, t.context.size() - 1);
    for (std::size_t j = 0; j < i; ++j)
      if (!inputs[j].empty()) shared = std::min(shared, common_prefix(inputs[i], inputs[j]));
  }
  if (shared == SIZE_MAX) return scores;  // no request has a continuation to score

  // Every non-empty input starts with the same `shared` tokens: run them once from any of them.
  const auto& head = *std::find_if(inputs.begin(), inputs.end(), [](const auto& in) { return !in.empty(); });
  const auto shared_len = static_cast<std::int64_t>(shared);
  session_.reset();
  if (shared_len > 0) session_.prefill(std::span(head.data(), shared), false);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (inputs[i].empty()) continue;
    session_.truncate(shared_len);
    std::span<const std::int32_t> tail(inputs[i].data() + shared, inputs[i].size() - shared);
    auto logits = session_.prefill(tail, true);
    tokens_fed_ += static_cast<std::int64_t>(tail.size());
    const std::size_t vocab = logits.size() / tail.size();
    const auto& t = scores[i].tokens;
    for (std::size_t j = 0; j < t.continuation.size(); ++j) {
      const std::size_t position = t.context.size() + j - 1;  // the row that predicts continuation token j
      auto row = logits.subspan((position - shared) * vocab, vocab);
      scores[i].loglikelihood += token_log_prob(row, t.continuation[j]);
      if (argmax(row) != t.continuation[j]) scores[i].is_greedy = false;
    }
  }
  tokens_fed_ += shared_len;
  return scores;
}

}  // namespace glmq::eval
