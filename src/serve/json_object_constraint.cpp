#include "serve/json_object_constraint.h"

#include <algorithm>
#include <limits>

namespace glmq::serve {

std::shared_ptr<const TokenBytes> TokenBytes::from(const Tokenizer& tokenizer) {
  auto t = std::make_shared<TokenBytes>();
  const std::size_t n = tokenizer.vocab_size();
  t->bytes.resize(n);
  t->special.resize(n);
  for (std::size_t id = 0; id < n; ++id) {
    const auto u = static_cast<std::uint32_t>(id);
    if (!tokenizer.is_valid_id(u)) continue;
    t->bytes[id] = tokenizer.token_bytes(u);
    t->special[id] = tokenizer.is_special(u);
  }
  return t;
}

JsonObjectConstraint::JsonObjectConstraint(std::shared_ptr<const TokenBytes> vocabulary, std::vector<std::int32_t> stop_ids)
    : vocabulary_(std::move(vocabulary)), stop_ids_(std::move(stop_ids)) {}

bool JsonObjectConstraint::is_stop(std::int32_t id) const { return std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end(); }

void JsonObjectConstraint::restrict(std::span<float> logits) const {
  constexpr float kNever = -std::numeric_limits<float>::infinity();
  const bool done = prefix_.complete();
  bool any = false;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const auto id = static_cast<std::int32_t>(i);
    bool allowed = false;
    if (is_stop(id)) {
      allowed = done;
    } else if (!done && i < vocabulary_->bytes.size() && !vocabulary_->special[i] && !vocabulary_->bytes[i].empty()) {
      JsonPrefix trial = prefix_;
      allowed = std::all_of(vocabulary_->bytes[i].begin(), vocabulary_->bytes[i].end(),
                            [&](char c) { return trial.push(static_cast<unsigned char>(c)); });
    }
    if (allowed && logits[i] != kNever) any = true;
    if (!allowed) logits[i] = kNever;
  }
  // A vocabulary that cannot continue at all (never for byte-level BPE) ends the answer instead of sampling
  // from nothing.
  if (!any)
    for (auto id : stop_ids_)
      if (id >= 0 && static_cast<std::size_t>(id) < logits.size()) logits[static_cast<std::size_t>(id)] = 0.0f;
}

void JsonObjectConstraint::accept(std::int32_t id) {
  if (is_stop(id) || id < 0 || static_cast<std::size_t>(id) >= vocabulary_->bytes.size()) return;
  for (char c : vocabulary_->bytes[static_cast<std::size_t>(id)]) prefix_.push(static_cast<unsigned char>(c));
}

}  // namespace glmq::serve
