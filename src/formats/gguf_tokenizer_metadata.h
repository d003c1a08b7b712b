#pragma once
// The tokenizer metadata llama.cpp's converter writes for GLM (conversion/base.py `_set_vocab_glm` with gguf-py's
// SpecialVocab, shared/docs/quant_gguf.md §3.3), from an HF folder's tokenizer.json, tokenizer_config.json and
// config.json: tokenizer.ggml.{model, pre, tokens, token_type, merges}, the special token ids, add_bos/add_eos
// and tokenizer.chat_template. The inverse of gguf_tokenizer_json.h.
#include <cstdint>
#include <string>

#include "formats/gguf_writer.h"

namespace glmq {

// `vocab_size` is config.json's (ids the tokenizer lacks become "[PAD<id>]" tokens of type UNUSED, as the converter
// writes them).
GgufMetadata gguf_tokenizer_metadata(const std::string& hf_dir, std::int64_t vocab_size);

}  // namespace glmq
