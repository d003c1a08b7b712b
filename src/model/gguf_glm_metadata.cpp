#include "model/gguf_glm_metadata.h"

#include "core/error.h"

namespace glmq {

std::uint32_t llama_file_type_of(WeightType type) {
  switch (type) {
    case WeightType::F32: return 0;
    case WeightType::F16: return 1;
    case WeightType::Q4_0: return 2;
    case WeightType::Q8_0: return 7;
    case WeightType::Q5_0: return 8;  // llama_ftype LLAMA_FTYPE_MOSTLY_Q5_0
    case WeightType::Q5_1: return 9;
    case WeightType::Q2_K: return 10;
    case WeightType::Q3_K: return 12;
    case WeightType::Q4_K: return 15;
    case WeightType::Q5_K: return 17;
    case WeightType::Q6_K: return 18;
    case WeightType::IQ2_XXS: return 19;
    case WeightType::IQ4_NL: return 25;
    case WeightType::IQ3_S: return 26;
    case WeightType::IQ2_S: return 28;
    case WeightType::IQ4_XS: return 30;
    case WeightType::BF16: return 32;
    default:
      fail(ErrorKind::DType, "a GGUF's default type must be a float or GGML type, found " + std::string(weight_type_name(type)));
  }
}

GgufMetadata glm_dsa_metadata(const GlmConfig& c, const std::string& name, std::uint32_t file_type) {
  if (c.rope.type != "default")
    fail(ErrorKind::Config, "RoPE scaling '" + c.rope.type + "' is not written to glm-dsa GGUF metadata by glmq (GLM-5.2 uses default RoPE)");
  if (!c.rope_interleave || !c.indexer_rope_interleave)
    fail(ErrorKind::Config, "non-interleaved RoPE cannot be expressed in glm-dsa GGUF metadata (llama.cpp rotates adjacent pairs)");
  auto u32 = [](std::int64_t v) { return GgufValue::u32(static_cast<std::uint32_t>(v)); };
  auto f32 = [](double v) { return GgufValue::f32(static_cast<float>(v)); };
  const std::string a = "glm-dsa.";
  GgufMetadata md;
  md.emplace_back("general.architecture", GgufValue::string("glm-dsa"));
  md.emplace_back("general.type", GgufValue::string("model"));
  md.emplace_back("general.name", GgufValue::string(name));
  // The NextN/MTP layer is one more block after the decoder layers (blk.<num_hidden_layers>).
  md.emplace_back(a + "block_count", u32(c.num_hidden_layers + c.num_nextn_predict_layers));
  md.emplace_back(a + "context_length", u32(c.max_position_embeddings));
  md.emplace_back(a + "embedding_length", u32(c.hidden_size));
  md.emplace_back(a + "feed_forward_length", u32(c.intermediate_size));
  md.emplace_back(a + "attention.head_count", u32(c.num_attention_heads));
  md.emplace_back(a + "attention.head_count_kv", u32(1));  // MLA stored as MQA over the 576-wide latent
  md.emplace_back(a + "rope.freq_base", f32(c.rope.theta));
  md.emplace_back(a + "attention.layer_norm_rms_epsilon", f32(c.rms_norm_eps));
  md.emplace_back(a + "expert_count", u32(c.n_routed_experts));
  md.emplace_back(a + "expert_used_count", u32(c.num_experts_per_tok));
  md.emplace_back(a + "expert_group_count", u32(c.n_group));
  md.emplace_back(a + "expert_group_used_count", u32(c.topk_group));
  md.emplace_back(a + "attention.key_length", u32(c.kv_lora_rank + c.qk_rope_head_dim));
  md.emplace_back(a + "attention.value_length", u32(c.kv_lora_rank));
  md.emplace_back("general.file_type", GgufValue::u32(file_type));
  std::int64_t dense = 0;
  while (dense < static_cast<std::int64_t>(c.layer_is_dense.size()) && c.layer_is_dense[static_cast<std::size_t>(dense)]) ++dense;
  for (std::size_t l = static_cast<std::size_t>(dense); l < c.layer_is_dense.size(); ++l)
    if (c.layer_is_dense[l])
      fail(ErrorKind::Config, "layer " + std::to_string(l) + " is dense after MoE layers; glm-dsa GGUF describes only leading dense layers");
  md.emplace_back(a + "leading_dense_block_count", u32(dense));
  md.emplace_back(a + "vocab_size", u32(c.vocab_size));
  md.emplace_back(a + "attention.q_lora_rank", u32(c.q_lora_rank));
  md.emplace_back(a + "attention.kv_lora_rank", u32(c.kv_lora_rank));
  md.emplace_back(a + "attention.key_length_mla", u32(c.qk_head_dim()));
  md.emplace_back(a + "attention.value_length_mla", u32(c.v_head_dim));
  md.emplace_back(a + "expert_feed_forward_length", u32(c.moe_intermediate_size));
  md.emplace_back(a + "expert_shared_count", u32(c.n_shared_experts));
  md.emplace_back(a + "expert_weights_scale", f32(c.routed_scaling_factor));
  if (c.norm_topk_prob) md.emplace_back(a + "expert_weights_norm", GgufValue::boolean(true));  // written only when true
  md.emplace_back(a + "rope.dimension_count", u32(c.qk_rope_head_dim));
  if (c.num_nextn_predict_layers > 0) md.emplace_back(a + "nextn_predict_layers", u32(c.num_nextn_predict_layers));
  md.emplace_back(a + "attention.indexer.head_count", u32(c.index_n_heads));
  md.emplace_back(a + "attention.indexer.key_length", u32(c.index_head_dim));
  md.emplace_back(a + "attention.indexer.top_k", u32(c.index_topk));
  md.emplace_back(a + "attention.indexer.types", GgufValue::bool_array(c.layer_runs_indexer));
  md.emplace_back("general.quantization_version", GgufValue::u32(2));  // GGML_QNT_VERSION
  return md;
}

}  // namespace glmq
