#pragma once
// tokenizer.json "normalizer": the text rewrites HF applies before pre-tokenization. glmq
// implements the string-level ones (Sequence, Replace, Prepend, Strip); anything else (Unicode
// normalization forms, lowercasing, BERT cleanup) is refused at load instead of being skipped.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_file.h"

namespace glmq {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void apply(std::string& text) const = 0;
};

// nullptr for a JSON null normalizer.
std::unique_ptr<Normalizer> make_normalizer(const Json& spec, const std::string& what);

}  // namespace glmq
