#pragma once
// GlmConfig: everything the glm_moe_dsa forward pass reads, from HF config.json (later also GGUF/MLX).
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_file.h"

namespace glmq {

class GgufFile;

struct RopeConfig {
  double theta = 10000.0;
  std::string type = "default";  // "default" or "yarn"
  // yarn only
  double factor = 1.0;
  double original_max_position_embeddings = 0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 0.0;          // 0 = absent
  double mscale_all_dim = 0.0;  // 0 = absent
  double attention_factor = 0.0;  // 0 = absent (derived)
  bool truncate = true;
};

struct GlmConfig {
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_nextn_predict_layers = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t moe_intermediate_size = 0;
  std::int64_t n_routed_experts = 0;
  std::int64_t num_experts_per_tok = 0;
  std::int64_t n_shared_experts = 0;
  std::int64_t n_group = 1;
  std::int64_t topk_group = 1;
  bool norm_topk_prob = true;
  double routed_scaling_factor = 1.0;
  std::int64_t num_attention_heads = 0;
  std::int64_t q_lora_rank = 0;
  std::int64_t kv_lora_rank = 0;
  std::int64_t qk_nope_head_dim = 0;
  std::int64_t qk_rope_head_dim = 0;
  std::int64_t v_head_dim = 0;
  double rms_norm_eps = 1e-6;
  // q_a_layernorm and kv_a_layernorm use RMSNorm's default eps (1e-6) in HF and in DeepSeek's reference,
  // not rms_norm_eps; the difference is visible in DSA top-k near-ties.
  double latent_norm_eps = 1e-6;
  std::int64_t max_position_embeddings = 0;
  RopeConfig rope;
  bool rope_interleave = true;  // main attention RoPE pairs (2k, 2k+1)

  std::int64_t index_n_heads = 0;
  std::int64_t index_head_dim = 0;
  std::int64_t index_topk = 0;
  bool indexer_rope_interleave = true;
  double indexer_norm_eps = 1e-6;

  std::vector<bool> layer_is_dense;     // per decoder layer: dense SwiGLU (true) or MoE (false)
  std::vector<bool> layer_runs_indexer; // per decoder layer: "full" (true) or "shared" (false)

  bool tie_word_embeddings = false;
  std::vector<std::int64_t> eos_token_ids;
  std::int64_t bos_token_id = -1;

  std::int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  // Softmax scale of the main attention: 1/sqrt(qk_head_dim), times mscale² under yarn.
  double attention_scale() const;
  // Multiplier HF applies to cos/sin (yarn attention_factor; 1 otherwise).
  double rope_attention_factor() const;
  // inv_freq[k] for k < qk_rope_head_dim/2, including the yarn correction.
  std::vector<double> rope_inv_freq() const;
  std::int64_t num_full_indexer_layers() const;

  static GlmConfig from_hf_json(const Json& j, const std::string& where);
  static GlmConfig from_hf_dir(const std::string& dir);
  // From the metadata of a `glm-dsa` GGUF (llama.cpp's keys, shared/docs/quant_gguf.md §3.1); config_gguf.cpp.
  static GlmConfig from_gguf(const GgufFile& file);
};

// Which layers run the indexer, per the HF rules: explicit `indexer_types`, else `index_topk_pattern`
// ("F"/"S" per layer), else layer i is full iff max(i - offset + 1, 0) % freq == 0.
std::vector<bool> derive_indexer_schedule(const Json& j, std::int64_t num_layers, const std::string& where);

}  // namespace glmq
