#pragma once
// Turning evaluation text into token ids: a whole file for strided perplexity, or jsonl documents in
// mlx-lm's text format ({"text": ...} per line) for sampled perplexity.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eval/sampled_sequences.h"
#include "tokenizer/tokenizer.h"

namespace glmq::eval {

// The whole text tokenized in one piece, no special tokens added (MODEL.md's reference numbers do this).
std::vector<std::int32_t> tokenize_whole(const Tokenizer& tokenizer, const std::string& text);

// One document per jsonl line's "text" field, tokenized and ended with `eos` unless it already ends so —
// mlx-lm's TextDataset.process. Bad lines are Format errors naming the file and line.
TokenRows tokenize_jsonl_documents(const Tokenizer& tokenizer, const std::string& path, std::int32_t eos);

// The tokenizer's end-of-sequence id: tokenizer_config.json's eos_token in `model_dir`, else the first of
// config.json's eos_token_id list (`fallback`).
std::int32_t end_of_sequence_id(const Tokenizer& tokenizer, const std::string& model_dir,
                                std::optional<std::int32_t> fallback);

}  // namespace glmq::eval
