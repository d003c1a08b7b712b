#pragma once
// A model ready to talk to: weights, tokenizer, chat template and the ids that end a turn.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/weights.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace glmq {

struct LoadedModel {
  std::string path;
  std::unique_ptr<Model> model;
  std::optional<Tokenizer> tokenizer;         // absent when the model folder has no tokenizer.json (GGUF: no tokens)
  std::optional<ChatTemplate> chat_template;  // absent when tokenizer_config.json (GGUF: metadata) has none
  std::vector<std::int32_t> stop_ids;         // config + generation_config + tokenizer eos ids (GGUF: eos/eot/eom ids)

  const Weights& weights() const { return model->weights; }
  bool is_stop(std::int32_t id) const;
  // Errors naming the model folder when the tokenizer or template is missing.
  const Tokenizer& require_tokenizer() const;
  const ChatTemplate& require_chat_template() const;
};

// Loads a model directory (HF or MLX safetensors layout) with its tokenizer files when present, or a `glm-dsa`
// .gguf file (the first shard of a split one) with the tokenizer, chat template and eos ids from its metadata.
LoadedModel load_model_bundle(const std::string& path);

}  // namespace glmq
