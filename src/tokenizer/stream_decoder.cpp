#include "tokenizer/stream_decoder.h"

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace glmq {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string StreamDecoder::push(uint32_t id) {
  const std::string& bytes = tokenizer_.token_bytes(id);  // validates the id even when skipped
  if (skip_special_tokens_ && tokenizer_.is_special(id)) return {};
  pending_.append(bytes);
  std::string out;
  std::size_t pos = 0;
  while (pos < pending_.size()) {
    const utf8::Sequence s = utf8::classify(pending_, pos);
    if (s.kind == utf8::SequenceKind::Truncated) break;  // may still complete with the next token
    if (s.kind == utf8::SequenceKind::Valid) {
      out.append(pending_, pos, s.length);
    } else {
      out.append(utf8::kReplacementChar);
    }
    pos += s.length;
  }
  pending_.erase(0, pos);
  return out;
}

std::string StreamDecoder::finish() {
  std::string out = utf8::to_valid_lossy(pending_);
  pending_.clear();
  return out;
}

}  // namespace glmq
