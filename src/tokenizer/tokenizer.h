#pragma once
// A HF tokenizer.json (BPE) that turns text into exactly the ids HF `tokenizers` produces and
// ids back into text. Loading refuses components glmq does not implement instead of guessing.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_file.h"
#include "tokenizer/added_vocabulary.h"

namespace glmq {

class BpeModel;
class Normalizer;
class PreTokenizer;
class PieceCache;

class Tokenizer {
 public:
  // `what` names the source (file path) in error messages.
  Tokenizer(const Json& tokenizer_json, const std::string& what);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Reads <dir>/tokenizer.json.
  static Tokenizer from_directory(const std::string& dir);

  // Like HF `Tokenizer.encode(text, add_special_tokens)`. Bytes that are not valid UTF-8 are
  // first replaced by U+FFFD, as Python's bytes.decode("utf-8", "replace") does.
  std::vector<uint32_t> encode(std::string_view text, bool add_special_tokens = true) const;

  // Like HF `Tokenizer.decode(ids, skip_special_tokens)`: the ids' bytes, with invalid UTF-8
  // replaced by U+FFFD. Ids outside the vocabulary are an InvalidArgument error (HF drops them).
  std::string decode(std::span<const uint32_t> ids, bool skip_special_tokens = false) const;

  // The bytes one id contributes to decoded text (before UTF-8 repair), for streaming decoders.
  const std::string& token_bytes(uint32_t id) const;
  bool is_special(uint32_t id) const;
  bool is_valid_id(uint32_t id) const;
  std::optional<uint32_t> token_to_id(const std::string& token) const;
  std::optional<std::string> id_to_token(uint32_t id) const;
  std::size_t vocab_size() const { return id_bytes_.size(); }
  const AddedVocabulary& added_vocabulary() const { return *added_; }

 private:
  void encode_text(std::string_view text, std::vector<uint32_t>& ids, PieceCache& cache) const;
  void encode_normalized(std::string_view text, std::vector<uint32_t>& ids, PieceCache& cache) const;

  std::string what_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<AddedVocabulary> added_;
  bool decoder_byte_level_ = false;
  // Ids the post-processor puts before and after the text when add_special_tokens is true.
  std::vector<uint32_t> prefix_ids_, suffix_ids_;
  std::vector<std::string> id_bytes_;  // what each id decodes to; empty for holes
  std::vector<uint8_t> id_flags_;      // bit 0: valid id, bit 1: special
};

}  // namespace glmq
