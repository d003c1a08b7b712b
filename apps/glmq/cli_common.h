#pragma once
// Helpers shared by subcommands: parsing id lists, loading a model, common options.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace glmq::cli {

// "5,17,9" → {5, 17, 9}; anything else is an InvalidArgument error naming the bad item.
std::vector<std::int32_t> parse_token_list(const std::string& text, const std::string& option);

// `path` is an HF/MLX model directory or a GGUF file (the first shard of a split one).
std::unique_ptr<Model> load_model(const std::string& path);
// The tokenizer beside the model: <dir>/tokenizer.json, or the one in a GGUF file's metadata.
Tokenizer load_tokenizer(const std::string& path);

}  // namespace glmq::cli
