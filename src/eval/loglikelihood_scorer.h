#pragma once
// Log-likelihoods of continuations given contexts, as lm-evaluation-harness's HF model computes them
// (HFLM._encode_pair and _loglikelihood_tokens), over one Session. The requests of one document are scored
// together: their common token prefix is run once and each request continues from it.
#include <cstdint>
#include <string_view>
#include <vector>

#include "eval/multiple_choice.h"
#include "runtime/session.h"
#include "tokenizer/tokenizer.h"

namespace glmq::eval {

struct EncodedRequest {
  std::vector<std::int32_t> context, continuation;
};

// lm-eval's _encode_pair: trailing whitespace of the context moves to the front of the continuation; the
// context is encoded alone, the continuation is what encoding context + continuation adds after it. No
// special tokens are added (lm-eval's default for models without a BOS requirement).
EncodedRequest encode_pair(const Tokenizer& tokenizer, std::string_view context, std::string_view continuation);

struct RequestScore {
  double loglikelihood = 0;  // Σ log p(continuation token | everything before it)
  bool is_greedy = true;     // every continuation token is the argmax of its row
  EncodedRequest tokens;
};

class LoglikelihoodScorer {
 public:
  LoglikelihoodScorer(Session& session, const Tokenizer& tokenizer) : session_(session), tokenizer_(tokenizer) {}

  // Scores requests that belong together (one document's choices); results are in request order.
  std::vector<RequestScore> score(const std::vector<LoglikelihoodRequest>& requests);
  std::int64_t tokens_fed() const { return tokens_fed_; }

 private:
  Session& session_;
  const Tokenizer& tokenizer_;
  std::int64_t tokens_fed_ = 0;
};

}  // namespace glmq::eval
