#include "runtime/loaded_model.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <utility>

#include "core/error.h"
#include "core/json_file.h"
#include "formats/gguf_tokenizer_json.h"

namespace glmq {

namespace fs = std::filesystem;

bool LoadedModel::is_stop(std::int32_t id) const { return std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end(); }

const Tokenizer& LoadedModel::require_tokenizer() const {
  if (!tokenizer) fail(ErrorKind::Io, path + ": no tokenizer.json (or GGUF tokenizer metadata); this command needs the model's tokenizer");
  return *tokenizer;
}

const ChatTemplate& LoadedModel::require_chat_template() const {
  if (!chat_template)
    fail(ErrorKind::Config, path + ": no chat template (tokenizer_config.json chat_template, or GGUF tokenizer.chat_template); use --raw "
                                   "to send the prompt as plain text");
  return *chat_template;
}

namespace {

bool is_gguf_file(const std::string& path) { return fs::path(path).extension() == ".gguf" && !fs::is_directory(path); }

// The GGUF counterpart of tokenizer_config.json: llama.cpp's converter stores the template as tokenizer.chat_template
// and the special tokens as ids, which the template sees by their text (as transformers passes bos_token etc.).
TokenizerConfig tokenizer_config_from_gguf(const GgufFile& f, const Tokenizer& tokenizer) {
  TokenizerConfig tc;
  if (const GgufValue* t = f.find("tokenizer.chat_template")) tc.chat_template = t->as_string("tokenizer.chat_template");
  auto token = [&](const char* key) -> std::optional<std::string> {
    const GgufValue* v = f.find(key);
    if (!v) return std::nullopt;
    const std::int64_t id = v->as_int(key);
    if (id < 0 || id >= static_cast<std::int64_t>(tokenizer.vocab_size()))
      fail(ErrorKind::Config, f.path() + ": " + key + " " + std::to_string(id) + " is outside the vocabulary");
    return tokenizer.id_to_token(static_cast<std::uint32_t>(id));
  };
  tc.bos_token = token("tokenizer.ggml.bos_token_id");
  tc.eos_token = token("tokenizer.ggml.eos_token_id");
  tc.pad_token = token("tokenizer.ggml.padding_token_id");
  tc.unk_token = token("tokenizer.ggml.unknown_token_id");
  auto flag = [&](const char* key) { return f.find(key) && f.find(key)->as_bool(key); };
  tc.add_bos_token = flag("tokenizer.ggml.add_bos_token");
  tc.add_eos_token = flag("tokenizer.ggml.add_eos_token");
  return tc;
}

// A GGUF file (or the first shard of a split one) carries tokenizer, chat template and eos ids in its metadata;
// from_gguf already collected eos/eot/eom into the config's eos_token_ids.
LoadedModel load_gguf_bundle(const std::string& path) {
  LoadedModel m;
  m.path = path;
  m.model = Model::load_gguf(path);
  for (auto id : m.model->weights.config.eos_token_ids) m.stop_ids.push_back(static_cast<std::int32_t>(id));
  const GgufFile& meta = m.model->gguf->metadata_file();
  if (meta.find("tokenizer.ggml.tokens")) {
    m.tokenizer = Tokenizer(tokenizer_json_from_gguf(meta), path);
    const TokenizerConfig tc = tokenizer_config_from_gguf(meta, *m.tokenizer);
    if (tc.chat_template) m.chat_template = ChatTemplate(*tc.chat_template, tc);
  }
  return m;
}

LoadedModel with_unique_stop_ids(LoadedModel m) {
  std::sort(m.stop_ids.begin(), m.stop_ids.end());
  m.stop_ids.erase(std::unique(m.stop_ids.begin(), m.stop_ids.end()), m.stop_ids.end());
  return m;
}

}  // namespace

LoadedModel load_model_bundle(const std::string& path) {
  if (is_gguf_file(path)) return with_unique_stop_ids(load_gguf_bundle(path));
  if (!fs::is_directory(path))
    fail(ErrorKind::Io, path + ": not a model directory (expected config.json and model.safetensors) nor a .gguf file");
  LoadedModel m;
  m.path = path;
  m.model = Model::load_hf(path);
  for (auto id : m.model->weights.config.eos_token_ids) m.stop_ids.push_back(static_cast<std::int32_t>(id));
  const fs::path gen = fs::path(path) / "generation_config.json";
  if (fs::exists(gen)) {
    Json g = read_json_file(gen.string());
    if (g.contains("eos_token_id")) {
      const Json& e = g["eos_token_id"];
      if (e.is_number_integer()) m.stop_ids.push_back(e.get<std::int32_t>());
      if (e.is_array())
        for (const auto& v : e)
          if (v.is_number_integer()) m.stop_ids.push_back(v.get<std::int32_t>());
    }
  }
  if (fs::exists(fs::path(path) / "tokenizer.json")) {
    m.tokenizer = Tokenizer::from_directory(path);
    const TokenizerConfig tc = TokenizerConfig::from_directory(path);
    if (tc.eos_token)
      if (auto id = m.tokenizer->token_to_id(*tc.eos_token)) m.stop_ids.push_back(static_cast<std::int32_t>(*id));
    if (tc.chat_template) m.chat_template = ChatTemplate::from_directory(path);
  }
  return with_unique_stop_ids(std::move(m));
}

}  // namespace glmq
