#pragma once
// Helpers shared by subcommands: parsing id lists, loading a model, common options.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "model/latent_kv_cache.h"
#include "model/weights.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"

namespace glmq::cli {

// "5,17,9" → {5, 17, 9}; anything else is an InvalidArgument error naming the bad item.
std::vector<std::int32_t> parse_token_list(const std::string& text, const std::string& option);

// `path` is an HF/MLX model directory or a GGUF file (the first shard of a split one).
std::unique_ptr<Model> load_model(const std::string& path);
// The tokenizer beside the model: <dir>/tokenizer.json, or the one in a GGUF file's metadata.
Tokenizer load_tokenizer(const std::string& path);

// --kv-bits, --kv-group-size, --quantized-kv-start, --kv-rope-bits, --indexer-kv-bits: the latent cache's
// storage. `kv` holds the command's default (16-bit for generation, 32 for exact comparisons).
void add_kv_cache_options(CLI::App* cmd, KvCacheOptions& kv);
// --temperature, --top-k, --top-p, --min-p, --seed.
void add_sampling_options(CLI::App* cmd, SamplingParams& sampling);

}  // namespace glmq::cli
