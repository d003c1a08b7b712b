#include "runtime/loaded_model.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/json_file.h"

namespace glmq {

namespace fs = std::filesystem;

bool LoadedModel::is_stop(std::int32_t id) const { return std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end(); }

const Tokenizer& LoadedModel::require_tokenizer() const {
  if (!tokenizer) fail(ErrorKind::Io, path + ": no tokenizer.json; this command needs the model's tokenizer");
  return *tokenizer;
}

const ChatTemplate& LoadedModel::require_chat_template() const {
  if (!chat_template)
    fail(ErrorKind::Config, path + ": tokenizer_config.json has no chat_template (use --raw to send the prompt as plain text)");
  return *chat_template;
}

LoadedModel load_model_bundle(const std::string& path) {
  if (!fs::is_directory(path)) fail(ErrorKind::Io, path + ": not a model directory (expected config.json and model.safetensors)");
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
  std::sort(m.stop_ids.begin(), m.stop_ids.end());
  m.stop_ids.erase(std::unique(m.stop_ids.begin(), m.stop_ids.end()), m.stop_ids.end());
  return m;
}

}  // namespace glmq
