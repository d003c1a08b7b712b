#include "runtime/sequence_batch.h"

#include "core/error.h"

namespace glmq {

SequenceBatch::SequenceBatch(const Weights& weights, Backend& backend, int max_sequences, std::int64_t context,
                             const KvCacheOptions& kv)
    : weights_(weights), backend_(backend), context_(context), kv_(kv), forward_(weights, backend) {
  kv.validate();
  if (max_sequences <= 0) fail(ErrorKind::InvalidArgument, "a batch needs at least one sequence slot");
  if (context <= 0) fail(ErrorKind::InvalidArgument, "context must be positive, found " + std::to_string(context));
  slots_.resize(static_cast<std::size_t>(max_sequences));
}

SequenceBatch::Slot& SequenceBatch::slot_at(int slot) {
  if (slot < 0 || slot >= max_sequences() || !slots_[static_cast<std::size_t>(slot)].in_use)
    fail(ErrorKind::InvalidArgument, "sequence slot " + std::to_string(slot) + " is not in use");
  return slots_[static_cast<std::size_t>(slot)];
}

const SequenceBatch::Slot& SequenceBatch::slot_at(int slot) const { return const_cast<SequenceBatch*>(this)->slot_at(slot); }

int SequenceBatch::acquire() {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (s.in_use) continue;
    if (!s.cache) s.cache = std::make_unique<LatentKvCache>(weights_.config, backend_, context_, kv_);
    s.cache->clear();
    s.in_use = true;
    return static_cast<int>(i);
  }
  fail(ErrorKind::Capacity, "all " + std::to_string(slots_.size()) + " sequence slots are in use");
}

void SequenceBatch::release(int slot) { slot_at(slot).in_use = false; }

int SequenceBatch::free_slots() const {
  int n = 0;
  for (const auto& s : slots_) n += s.in_use ? 0 : 1;
  return n;
}

std::int64_t SequenceBatch::position(int slot) const { return slot_at(slot).cache->length(); }

void SequenceBatch::truncate(int slot, std::int64_t length) {
  Slot& s = slot_at(slot);
  if (length < 0 || length > s.cache->length())
    fail(ErrorKind::InvalidArgument, "truncate to " + std::to_string(length) + " tokens, the sequence holds " +
                                         std::to_string(s.cache->length()));
  s.cache->set_length(length);
}

std::vector<std::span<const float>> SequenceBatch::step(std::span<const Step> steps) {
  chunks_.clear();
  std::int64_t rows = 0;
  for (const Step& st : steps) {
    Slot& s = slot_at(st.slot);
    if (st.tokens.empty()) fail(ErrorKind::InvalidArgument, "a step needs at least one token");
    chunks_.push_back({s.cache.get(), st.tokens.data(), static_cast<std::int64_t>(st.tokens.size()), st.all_logits});
    rows += st.all_logits ? static_cast<std::int64_t>(st.tokens.size()) : 1;
  }
  const auto V = static_cast<std::size_t>(weights_.config.vocab_size);
  const float* out = forward_.run_batch(chunks_);
  logits_.resize(static_cast<std::size_t>(rows) * V);
  backend_.download(logits_.data(), out, logits_.size() * sizeof(float));
  std::vector<std::span<const float>> result;
  std::size_t offset = 0;
  for (const Step& st : steps) {
    const std::size_t n = (st.all_logits ? st.tokens.size() : 1) * V;
    result.emplace_back(logits_.data() + offset, n);
    offset += n;
  }
  return result;
}

}  // namespace glmq
