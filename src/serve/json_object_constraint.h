#pragma once
// JSON mode (response_format {"type": "json_object"}): before each token is drawn, every token that cannot
// continue the answer as a JSON object gets probability zero; end-of-turn ids are allowed only, and then
// alone, once the object is closed. The answer is therefore a prefix of a JSON object at every step and a
// whole one whenever it ends by itself (a token limit can still cut it short).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "serve/json_prefix.h"
#include "tokenizer/tokenizer.h"

namespace glmq::serve {

// Each id's bytes and whether it is a special (markup) token, read once from the tokenizer.
struct TokenBytes {
  std::vector<std::string> bytes;
  std::vector<bool> special;
  static std::shared_ptr<const TokenBytes> from(const Tokenizer& tokenizer);
};

class JsonObjectConstraint {
 public:
  JsonObjectConstraint(std::shared_ptr<const TokenBytes> vocabulary, std::vector<std::int32_t> stop_ids);
  // Sets the logits of the tokens that may not come next to -infinity.
  void restrict(std::span<float> logits) const;
  // The token that was drawn.
  void accept(std::int32_t id);
  bool complete() const { return prefix_.complete(); }

 private:
  bool is_stop(std::int32_t id) const;

  std::shared_ptr<const TokenBytes> vocabulary_;
  std::vector<std::int32_t> stop_ids_;
  JsonPrefix prefix_;
};

}  // namespace glmq::serve
