#pragma once
// The BPE model of tokenizer.json: vocabulary, ranked merges, and the merge loop that turns one
// pre-tokenized piece into ids. With a byte-level alphabet the model works on raw bytes (the
// vocabulary is converted once at load), so encoding never builds byte-level strings.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/json_file.h"

namespace glmq {

class BpeModel {
 public:
  // `byte_level`: the pre-tokenizer maps bytes to the GPT-2 alphabet, so the initial symbols are
  // single bytes; otherwise they are UTF-8 characters. `what` names the file for errors.
  BpeModel(const Json& model, bool byte_level, const std::string& what);

  // Appends the ids of one piece (raw bytes when byte-level, text otherwise).
  void encode_piece(std::string_view piece, std::vector<uint32_t>& out) const;

  std::size_t vocab_size() const { return id_to_token_.size(); }
  // Token text as stored in tokenizer.json, or nullopt for ids the vocabulary does not have.
  const std::string* token_text(uint32_t id) const;
  std::optional<uint32_t> token_id(const std::string& token_text) const;
  // Bytes the id stands for after the byte-level decoder (the token text itself if not byte-level).
  const std::string* token_bytes(uint32_t id) const;

 private:
  struct MergeResult {
    uint32_t rank;
    uint32_t id;
  };
  static uint64_t pair_key(uint32_t left, uint32_t right) { return (uint64_t{left} << 32) | right; }
  void merge_symbols(std::vector<uint32_t>& symbols) const;

  bool byte_level_;
  bool ignore_merges_ = false;
  std::optional<uint32_t> unk_id_;
  bool fuse_unk_ = false;
  std::vector<std::string> id_to_token_;  // tokenizer.json text; empty for holes in the id range
  std::vector<std::string> id_to_bytes_;
  std::vector<bool> id_present_;
  std::unordered_map<std::string, uint32_t> text_to_id_;
  std::unordered_map<std::string, uint32_t> bytes_to_id_;  // the key the merge loop works in
  std::vector<int64_t> byte_symbol_;                        // id of each single byte, -1 if absent
  std::unordered_map<uint64_t, MergeResult> merges_;
};

}  // namespace glmq
