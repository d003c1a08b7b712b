#include "apps/glmq/cli_common.h"

#include <charconv>
#include <filesystem>

#include "core/error.h"
#include "formats/gguf_tokenizer_json.h"

namespace glmq::cli {

std::vector<std::int32_t> parse_token_list(const std::string& text, const std::string& option) {
  std::vector<std::int32_t> ids;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    std::int32_t v = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || ptr != item.data() + item.size() || v < 0)
      fail(ErrorKind::InvalidArgument, option + ": '" + item + "' is not a token id (expected comma-separated non-negative integers)");
    ids.push_back(v);
    start = end + 1;
  }
  return ids;
}

namespace {
bool is_gguf_path(const std::string& path) {
  return path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0 && !std::filesystem::is_directory(path);
}
}  // namespace

std::unique_ptr<Model> load_model(const std::string& path) {
  if (is_gguf_path(path)) return Model::load_gguf(path);
  if (!std::filesystem::is_directory(path))
    fail(ErrorKind::Io, path + ": not a model directory (expected config.json and model.safetensors) nor a .gguf file");
  return Model::load_hf(path);
}

Tokenizer load_tokenizer(const std::string& path) {
  if (is_gguf_path(path)) {
    const GgufFile file(path);  // metadata lives in the first (or only) shard
    return Tokenizer(tokenizer_json_from_gguf(file), path);
  }
  return Tokenizer::from_directory(path);
}

void add_kv_cache_options(CLI::App* cmd, KvCacheOptions& kv) {
  cmd->add_option("--kv-bits", kv.kv_bits, "Latent KV cache: 32 (float32, exact), 16 (float16), 8 or 4 (affine groups)")
      ->capture_default_str();
  cmd->add_option("--kv-group-size", kv.group_size, "Group size of 8/4-bit cache rows (32, 64, 128)")->capture_default_str();
  cmd->add_option("--quantized-kv-start", kv.quantized_start,
                  "Keep the cache float16 until it holds this many tokens, then quantize it (as mlx-lm)");
  cmd->add_option("--kv-rope-bits", kv.rope_bits, "Storage of the rope values per token: 32, 16, 8, 4 (default: 16 under 8/4-bit latents, else as --kv-bits)");
  cmd->add_option("--indexer-kv-bits", kv.indexer_bits, "Storage of the indexer keys: 32, 16 (default), 8, 4");
}

void add_sampling_options(CLI::App* cmd, SamplingParams& sampling) {
  cmd->add_option("--temperature", sampling.temperature, "0 = greedy (default)");
  cmd->add_option("--top-k", sampling.top_k, "Keep the k most likely tokens (0 = off)");
  cmd->add_option("--top-p", sampling.top_p, "Nucleus sampling mass (1 = off)");
  cmd->add_option("--min-p", sampling.min_p, "Drop tokens below min_p × the best one's probability");
  cmd->add_option("--seed", sampling.seed, "Random seed");
}

}  // namespace glmq::cli
