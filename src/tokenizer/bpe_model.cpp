#include "tokenizer/bpe_model.h"

#include <queue>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace glmq {
namespace {

bool json_is_null_or(const Json& j, const char* key, const Json& allowed) {
  return !j.contains(key) || j[key].is_null() || j[key] == allowed;
}

std::pair<std::string, std::string> merge_parts(const Json& merge, const std::string& what) {
  if (merge.is_string()) {
    const std::string& s = merge.get_ref<const std::string&>();
    const auto space = s.find(' ');
    if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
      fail(ErrorKind::Format, what + ": model.merges: expected \"left right\", found \"" + s + "\"");
    }
    return {s.substr(0, space), s.substr(space + 1)};
  }
  if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
    return {merge[0].get<std::string>(), merge[1].get<std::string>()};
  }
  fail(ErrorKind::Format, what + ": model.merges: expected a string or a pair of strings, found " + merge.dump());
}

}  // namespace

BpeModel::BpeModel(const Json& model, bool byte_level, const std::string& what) : byte_level_(byte_level) {
  if (!json_is_null_or(model, "dropout", 0.0)) {
    fail(ErrorKind::Config, what + ": model.dropout: glmq supports only null (deterministic BPE), found " +
                                model["dropout"].dump());
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (!json_is_null_or(model, key, "")) {
      fail(ErrorKind::Config, what + ": model." + key + ": glmq supports only null, found " + model[key].dump());
    }
  }
  if (!json_is_null_or(model, "byte_fallback", false)) {
    fail(ErrorKind::Config, what + ": model.byte_fallback: glmq supports only false, found " +
                                model["byte_fallback"].dump());
  }
  ignore_merges_ = model.value("ignore_merges", false);
  fuse_unk_ = model.value("fuse_unk", false);
  const Json& vocab = model.at("vocab");
  if (!vocab.is_object()) fail(ErrorKind::Format, what + ": model.vocab: expected an object of token -> id");

  for (const auto& [text, id_json] : vocab.items()) {
    if (!id_json.is_number_unsigned() || id_json.get<uint64_t>() >= (1u << 31)) {
      fail(ErrorKind::Format, what + ": model.vocab[\"" + text + "\"]: expected an id, found " + id_json.dump());
    }
    const auto id = id_json.get<uint32_t>();
    if (id >= id_to_token_.size()) {
      id_to_token_.resize(id + 1);
      id_to_bytes_.resize(id + 1);
      id_present_.resize(id + 1, false);
    }
    if (id_present_[id]) fail(ErrorKind::Format, what + ": model.vocab: id " + std::to_string(id) + " used twice");
    id_present_[id] = true;
    id_to_token_[id] = text;
    text_to_id_.emplace(text, id);
    std::string bytes = text;
    if (byte_level_) {
      // Tokens outside the byte alphabet cannot come out of byte-level BPE; they still decode as text.
      if (auto raw = byte_level_to_bytes(text)) bytes = std::move(*raw);
    }
    if (!byte_level_ || byte_level_to_bytes(text)) bytes_to_id_.emplace(bytes, id);
    id_to_bytes_[id] = std::move(bytes);
  }

  if (byte_level_) {
    byte_symbol_.assign(256, -1);
    for (int b = 0; b < 256; ++b) {
      auto it = bytes_to_id_.find(std::string(1, static_cast<char>(b)));
      if (it != bytes_to_id_.end()) byte_symbol_[b] = it->second;
    }
  }

  if (model.contains("unk_token") && !model["unk_token"].is_null()) {
    auto it = text_to_id_.find(model["unk_token"].get<std::string>());
    if (it == text_to_id_.end()) {
      fail(ErrorKind::Config, what + ": model.unk_token " + model["unk_token"].dump() + " is not in the vocabulary");
    }
    unk_id_ = it->second;
  }

  const Json& merges = model.at("merges");
  if (!merges.is_array()) fail(ErrorKind::Format, what + ": model.merges: expected an array");
  merges_.reserve(merges.size() * 2);
  uint32_t rank = 0;
  for (const Json& merge : merges) {
    const auto [left, right] = merge_parts(merge, what);
    const auto l = text_to_id_.find(left), r = text_to_id_.find(right), m = text_to_id_.find(left + right);
    if (l == text_to_id_.end() || r == text_to_id_.end() || m == text_to_id_.end()) {
      fail(ErrorKind::Format, what + ": model.merges[" + std::to_string(rank) + "]: \"" + left + "\" + \"" + right +
                                  "\" uses a token missing from the vocabulary");
    }
    merges_.try_emplace(pair_key(l->second, r->second), MergeResult{rank, m->second});
    ++rank;
  }
}

const std::string* BpeModel::token_text(uint32_t id) const {
  return id < id_present_.size() && id_present_[id] ? &id_to_token_[id] : nullptr;
}

const std::string* BpeModel::token_bytes(uint32_t id) const {
  return id < id_present_.size() && id_present_[id] ? &id_to_bytes_[id] : nullptr;
}

std::optional<uint32_t> BpeModel::token_id(const std::string& text) const {
  auto it = text_to_id_.find(text);
  if (it == text_to_id_.end()) return std::nullopt;
  return it->second;
}

void BpeModel::encode_piece(std::string_view piece, std::vector<uint32_t>& out) const {
  if (ignore_merges_) {
    auto it = bytes_to_id_.find(std::string(piece));
    if (it != bytes_to_id_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<uint32_t> symbols;
  symbols.reserve(piece.size());
  // Initial symbols: bytes (byte-level) or characters. An initial symbol missing from the
  // vocabulary becomes unk_token if there is one and is dropped otherwise, as HF does.
  bool previous_was_unk = false;
  auto push_unknown = [&] {
    if (!unk_id_) return;
    if (fuse_unk_ && previous_was_unk) return;
    symbols.push_back(*unk_id_);
    previous_was_unk = true;
  };
  if (byte_level_) {
    for (char c : piece) {
      const int64_t id = byte_symbol_[static_cast<unsigned char>(c)];
      if (id < 0) {
        push_unknown();
      } else {
        symbols.push_back(static_cast<uint32_t>(id));
        previous_was_unk = false;
      }
    }
  } else {
    std::size_t pos = 0;
    while (pos < piece.size()) {
      const std::size_t len = utf8::classify(piece, pos).length;
      auto it = bytes_to_id_.find(std::string(piece.substr(pos, len)));
      if (it == bytes_to_id_.end()) {
        push_unknown();
      } else {
        symbols.push_back(it->second);
        previous_was_unk = false;
      }
      pos += len;
    }
  }
  merge_symbols(symbols);
  out.insert(out.end(), symbols.begin(), symbols.end());
}

// Applies merges lowest rank first, leftmost first among equal ranks, until none applies. Symbols
// form a linked list; a heap holds candidate merges and stale ones are skipped when popped.
void BpeModel::merge_symbols(std::vector<uint32_t>& symbols) const {
  const std::size_t n = symbols.size();
  if (n < 2) return;
  if (n == 2) {
    auto it = merges_.find(pair_key(symbols[0], symbols[1]));
    if (it != merges_.end()) symbols = {it->second.id};
    return;
  }
  std::vector<int64_t> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (std::size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int64_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int64_t>(i + 1) : -1;
  }
  struct Candidate {
    uint32_t rank;
    std::size_t pos;
    uint32_t new_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto consider = [&](std::size_t left) {
    if (next[left] < 0) return;
    auto it = merges_.find(pair_key(symbols[left], symbols[static_cast<std::size_t>(next[left])]));
    if (it != merges_.end()) heap.push({it->second.rank, left, it->second.id});
  };
  for (std::size_t i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    const Candidate top = heap.top();
    heap.pop();
    if (!alive[top.pos] || next[top.pos] < 0) continue;
    const auto right = static_cast<std::size_t>(next[top.pos]);
    auto it = merges_.find(pair_key(symbols[top.pos], symbols[right]));
    if (it == merges_.end() || it->second.id != top.new_id) continue;  // the pair changed since it was queued
    symbols[top.pos] = top.new_id;
    alive[right] = false;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[static_cast<std::size_t>(next[right])] = static_cast<int64_t>(top.pos);
    if (prev[top.pos] >= 0) consider(static_cast<std::size_t>(prev[top.pos]));
    consider(top.pos);
  }
  std::size_t w = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (alive[i]) symbols[w++] = symbols[i];
  }
  symbols.resize(w);
}

}  // namespace glmq
