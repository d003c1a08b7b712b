#include "tokenizer/tokenizer.h"

#include <unordered_map>

#include "core/error.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"

namespace glmq {
namespace {

constexpr uint8_t kValid = 1, kSpecial = 2;

}  // namespace

// Ids of pieces already encoded during one encode() call: natural text repeats its words a lot.
class PieceCache {
 public:
  const std::vector<uint32_t>* find(std::string_view piece) const {
    auto it = map_.find(piece);
    return it == map_.end() ? nullptr : &it->second;
  }
  void insert(std::string_view piece, std::vector<uint32_t> ids) {
    if (map_.size() < kMaxEntries) map_.emplace(std::string(piece), std::move(ids));
  }

 private:
  static constexpr std::size_t kMaxEntries = 1 << 18;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::vector<uint32_t>, Hash, std::equal_to<>> map_;
};

namespace {

void check_supported_decoder(const Json& decoder, const std::string& what) {
  if (decoder.is_object() && decoder.value("type", "") == "ByteLevel") return;
  fail(ErrorKind::Config, what + ": decoder: glmq supports only {\"type\": \"ByteLevel\"}, found " + decoder.dump());
}

// The ids a TemplateProcessing "single" template adds around sequence A.
void read_template_processing(const Json& spec, const std::string& what, std::vector<uint32_t>& prefix,
                              std::vector<uint32_t>& suffix) {
  const Json& single = spec.at("single");
  const Json& specials = spec.value("special_tokens", Json::object());
  bool seen_sequence = false;
  for (const Json& item : single) {
    if (item.contains("Sequence")) {
      if (item["Sequence"].value("id", "") != "A") {
        fail(ErrorKind::Config, what + ": post_processor.single: expected sequence A, found " + item.dump());
      }
      seen_sequence = true;
    } else if (item.contains("SpecialToken")) {
      const std::string name = item["SpecialToken"].at("id").get<std::string>();
      if (!specials.contains(name)) {
        fail(ErrorKind::Config, what + ": post_processor: special token \"" + name + "\" has no entry in special_tokens");
      }
      for (const Json& id : specials[name].at("ids")) (seen_sequence ? suffix : prefix).push_back(id.get<uint32_t>());
    } else {
      fail(ErrorKind::Config, what + ": post_processor.single: unexpected item " + item.dump());
    }
  }
}

void read_post_processor(const Json& spec, const std::string& what, std::vector<uint32_t>& prefix,
                         std::vector<uint32_t>& suffix) {
  if (spec.is_null()) return;
  const std::string type = spec.value("type", "");
  if (type == "ByteLevel") return;  // only adjusts offsets, never ids
  if (type == "TemplateProcessing") return read_template_processing(spec, what, prefix, suffix);
  if (type == "Sequence") {
    for (const Json& step : spec.at("processors")) read_post_processor(step, what, prefix, suffix);
    return;
  }
  fail(ErrorKind::Config, what + ": post_processor type \"" + type +
                              "\" is not supported (glmq supports ByteLevel, TemplateProcessing, Sequence)");
}

}  // namespace

Tokenizer::Tokenizer(const Json& j, const std::string& what) : what_(what) {
  try {
    if (!j.is_object()) fail(ErrorKind::Format, what + ": expected a JSON object at the top level");
    const Json& model = j.at("model");
    const std::string model_type = model.value("type", "BPE");
    if (model_type != "BPE") {
      fail(ErrorKind::Config, what + ": model.type \"" + model_type + "\" is not supported (glmq supports BPE)");
    }
    normalizer_ = make_normalizer(j.value("normalizer", Json()), what);
    pre_tokenizer_ = std::make_unique<PreTokenizer>(j.value("pre_tokenizer", Json()), what);
    model_ = std::make_unique<BpeModel>(model, pre_tokenizer_->byte_level(), what);
    added_ = std::make_unique<AddedVocabulary>(j.value("added_tokens", Json::array()), normalizer_.get(), what);
    check_supported_decoder(j.value("decoder", Json()), what);
    decoder_byte_level_ = true;
    read_post_processor(j.value("post_processor", Json()), what, prefix_ids_, suffix_ids_);
  } catch (const Json::exception& e) {
    fail(ErrorKind::Format, what + ": unexpected tokenizer.json structure: " + e.what());
  }

  std::size_t size = model_->vocab_size();
  for (const AddedToken& t : added_->tokens()) size = std::max<std::size_t>(size, t.id + 1);
  id_bytes_.assign(size, {});
  id_flags_.assign(size, 0);
  for (uint32_t id = 0; id < model_->vocab_size(); ++id) {
    if (const std::string* text = model_->token_text(id)) {
      // The ByteLevel decoder maps each token through the byte alphabet, or keeps the token's own
      // UTF-8 when it has a character outside it.
      auto raw = byte_level_to_bytes(*text);
      id_bytes_[id] = raw ? std::move(*raw) : *text;
      id_flags_[id] = kValid;
    }
  }
  for (const AddedToken& t : added_->tokens()) {
    auto raw = byte_level_to_bytes(t.content);
    id_bytes_[t.id] = raw ? std::move(*raw) : t.content;
    id_flags_[t.id] = static_cast<uint8_t>(kValid | (t.special ? kSpecial : 0));
  }
  for (uint32_t id : prefix_ids_) {
    if (!is_valid_id(id)) fail(ErrorKind::Config, what + ": post_processor uses id " + std::to_string(id) + " outside the vocabulary");
  }
  for (uint32_t id : suffix_ids_) {
    if (!is_valid_id(id)) fail(ErrorKind::Config, what + ": post_processor uses id " + std::to_string(id) + " outside the vocabulary");
  }
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Tokenizer Tokenizer::from_directory(const std::string& dir) {
  const std::string path = dir + "/tokenizer.json";
  return Tokenizer(read_json_file(path), path);
}

std::vector<uint32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::string repaired;
  if (!utf8::is_valid(text)) {
    repaired = utf8::to_valid_lossy(text);
    text = repaired;
  }
  std::vector<uint32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  if (add_special_tokens) ids.insert(ids.end(), prefix_ids_.begin(), prefix_ids_.end());
  PieceCache cache;
  if (added_->has_tokens(false)) {
    std::vector<TextSegment> segments;
    added_->split(text, false, segments);
    for (const TextSegment& s : segments) {
      if (s.id) {
        ids.push_back(*s.id);
      } else {
        encode_text(text.substr(s.begin, s.end - s.begin), ids, cache);
      }
    }
  } else {
    encode_text(text, ids, cache);
  }
  if (add_special_tokens) ids.insert(ids.end(), suffix_ids_.begin(), suffix_ids_.end());
  return ids;
}

// A span without non-normalized added tokens: normalize it, then cut out normalized added tokens.
void Tokenizer::encode_text(std::string_view text, std::vector<uint32_t>& ids, PieceCache& cache) const {
  std::string normalized;
  if (normalizer_) {
    normalized = std::string(text);
    normalizer_->apply(normalized);
    text = normalized;
  }
  if (!added_->has_tokens(true)) return encode_normalized(text, ids, cache);
  std::vector<TextSegment> segments;
  added_->split(text, true, segments);
  for (const TextSegment& s : segments) {
    if (s.id) {
      ids.push_back(*s.id);
    } else {
      encode_normalized(text.substr(s.begin, s.end - s.begin), ids, cache);
    }
  }
}

void Tokenizer::encode_normalized(std::string_view text, std::vector<uint32_t>& ids, PieceCache& cache) const {
  if (text.empty()) return;
  Pieces pieces;
  pieces.views.push_back(text);
  pre_tokenizer_->apply(pieces);
  std::vector<uint32_t> piece_ids;
  for (std::string_view piece : pieces.views) {
    if (const auto* hit = cache.find(piece)) {
      ids.insert(ids.end(), hit->begin(), hit->end());
      continue;
    }
    piece_ids.clear();
    model_->encode_piece(piece, piece_ids);
    ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
    cache.insert(piece, piece_ids);
  }
}

std::string Tokenizer::decode(std::span<const uint32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  for (uint32_t id : ids) {
    if (skip_special_tokens && is_special(id)) continue;
    bytes.append(token_bytes(id));
  }
  return utf8::to_valid_lossy(bytes);
}

const std::string& Tokenizer::token_bytes(uint32_t id) const {
  if (!is_valid_id(id)) {
    fail(ErrorKind::InvalidArgument, what_ + ": token id " + std::to_string(id) + " is not in the vocabulary (size " +
                                         std::to_string(id_bytes_.size()) + ")");
  }
  return id_bytes_[id];
}

bool Tokenizer::is_valid_id(uint32_t id) const { return id < id_flags_.size() && (id_flags_[id] & kValid) != 0; }
bool Tokenizer::is_special(uint32_t id) const { return id < id_flags_.size() && (id_flags_[id] & kSpecial) != 0; }

std::optional<uint32_t> Tokenizer::token_to_id(const std::string& token) const {
  if (const AddedToken* t = added_->by_content(token)) return t->id;
  return model_->token_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(uint32_t id) const {
  if (const AddedToken* t = added_->by_id(id)) return t->content;
  if (const std::string* text = model_->token_text(id)) return *text;
  return std::nullopt;
}

}  // namespace glmq
