#pragma once
// Weights: typed per-layer handles onto a checkpoint's tensors, validated against GlmConfig.
// Every loader (HF safetensors now; MLX and GGUF later) produces this same structure.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "formats/gguf_shards.h"
#include "formats/tensor_store.h"
#include "model/config.h"
#include "quant/weight_matrix.h"

namespace glmq {

struct IndexerWeights {
  WeightMatrix wq_b;          // [n_heads·head_dim, q_lora_rank]
  WeightMatrix wk;            // [head_dim, hidden]
  std::vector<float> k_norm_weight, k_norm_bias;  // LayerNorm [head_dim]
  WeightMatrix weights_proj;  // [n_heads, hidden]
};

struct AttentionWeights {
  WeightMatrix q_a;                 // [q_lora_rank, hidden]
  std::vector<float> q_a_norm;      // [q_lora_rank]
  WeightMatrix q_b;                 // [heads·(nope+rope), q_lora_rank]
  WeightMatrix kv_a;                // [kv_lora_rank + rope, hidden]
  std::vector<float> kv_a_norm;     // [kv_lora_rank]
  // kv_b_proj split into its absorbed halves (as MLX's embed_q/unembed_out and GGUF's attn_k_b/attn_v_b):
  WeightMatrix k_absorb;            // [heads·kv_lora_rank, nope]: per head W_UKᵀ
  WeightMatrix v_expand;            // [heads·v, kv_lora_rank]: per head W_UV
  WeightMatrix o;                   // [hidden, heads·v]
  std::optional<IndexerWeights> indexer;  // only on layers that run the indexer
};

using FfnWeights = SwigluWeights;

struct MoeWeights {
  WeightMatrix router;                      // [n_routed_experts, hidden]
  std::vector<float> correction_bias;       // [n_routed_experts], used for choosing only
  std::vector<FfnWeights> experts;
  std::optional<FfnWeights> shared;
};

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;
  AttentionWeights attn;
  std::optional<FfnWeights> dense;
  std::optional<MoeWeights> moe;
};

// The NextN/MTP layer (stored as layer num_hidden_layers): kept loaded for speculative decoding.
struct MtpWeights {
  LayerWeights layer;
  std::vector<float> enorm, hnorm, shared_head_norm;
  WeightMatrix eh_proj;             // [hidden, 2·hidden]
  std::optional<WeightMatrix> shared_head;  // absent → the main lm_head
  std::optional<WeightMatrix> embed;        // absent → the main embedding
};

struct Weights {
  GlmConfig config;
  WeightMatrix embed;     // [vocab, hidden]
  WeightMatrix lm_head;   // [vocab, hidden]
  std::vector<float> final_norm;
  std::vector<LayerWeights> layers;
  std::optional<MtpWeights> mtp;

  // Bytes of all weights (scales included).
  std::size_t total_bytes() const;
  // Visits every weight matrix (main layers, head, embedding and the MTP layer).
  void for_each_matrix(const std::function<void(const std::string& role, WeightMatrix&)>& visit);
  void for_each_matrix(const std::function<void(const std::string& role, const WeightMatrix&)>& visit) const;
};

// A loaded model: the config, the tensor files (kept mapped) and the Weights pointing into them.
struct Model {
  std::unique_ptr<TensorStore> store;  // HF/MLX safetensors builds
  std::unique_ptr<GgufShards> gguf;    // GGUF builds (load_gguf)
  // Tensors glmq re-laid out at load (e.g. HF kv_b_proj split per head); Weights may point into them.
  std::vector<std::unique_ptr<std::uint8_t[]>> owned;
  Weights weights;

  // Loads an HF checkpoint directory: config.json + model.safetensors[.index.json].
  // Checks every tensor's presence, shape and type; extra tensors are an error.
  static std::unique_ptr<Model> load_hf(const std::string& dir);
  // Loads a `glm-dsa` GGUF file, or the first shard of a split one (gguf_loader.cpp): the same Weights, with
  // GGML-typed matrices pointing into the mapped shards.
  static std::unique_ptr<Model> load_gguf(const std::string& path);
};

}  // namespace glmq
