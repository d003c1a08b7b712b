#include "model/memory_plan.h"

#include <map>

#include "model/weights.h"

namespace glmq {

namespace {

struct MatrixShape {
  std::string module;     // HF module path, for recipes
  std::string component;
  std::int64_t rows, cols;
};

// Every weight matrix of the architecture, with the HF module path a recipe matches against.
std::vector<MatrixShape> matrix_shapes(const GlmConfig& c) {
  std::vector<MatrixShape> m;
  const std::int64_t H = c.hidden_size, heads = c.num_attention_heads;
  m.push_back({"model.embed_tokens", "embedding", c.vocab_size, H});
  m.push_back({"lm_head", "LM head", c.vocab_size, H});
  const std::int64_t layers = c.num_hidden_layers + c.num_nextn_predict_layers;
  for (std::int64_t l = 0; l < layers; ++l) {
    const bool mtp = l >= c.num_hidden_layers;
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const std::string attn = mtp ? "MTP layer" : "attention";
    m.push_back({p + "self_attn.q_a_proj", attn, c.q_lora_rank, H});
    m.push_back({p + "self_attn.q_b_proj", attn, heads * c.qk_head_dim(), c.q_lora_rank});
    m.push_back({p + "self_attn.kv_a_proj_with_mqa", attn, c.kv_lora_rank + c.qk_rope_head_dim, H});
    m.push_back({p + "self_attn.embed_q", attn, heads * c.kv_lora_rank, c.qk_nope_head_dim});
    m.push_back({p + "self_attn.unembed_out", attn, heads * c.v_head_dim, c.kv_lora_rank});
    m.push_back({p + "self_attn.o_proj", attn, H, heads * c.v_head_dim});
    // The MTP layer has its own indexer (arch §3.2).
    if (mtp || c.layer_runs_indexer[static_cast<std::size_t>(l)]) {
      const std::string ix = mtp ? "MTP layer" : "indexer";
      m.push_back({p + "self_attn.indexer.wq_b", ix, c.index_n_heads * c.index_head_dim, c.q_lora_rank});
      m.push_back({p + "self_attn.indexer.wk", ix, c.index_head_dim, H});
      m.push_back({p + "self_attn.indexer.weights_proj", ix, c.index_n_heads, H});
    }
    const bool dense = !mtp && c.layer_is_dense[static_cast<std::size_t>(l)];
    if (dense) {
      for (const char* proj : {"gate_proj", "up_proj"}) m.push_back({p + "mlp." + proj, "dense MLP", c.intermediate_size, H});
      m.push_back({p + "mlp.down_proj", "dense MLP", H, c.intermediate_size});
      continue;
    }
    const std::string ex = mtp ? "MTP layer" : "routed experts", sh = mtp ? "MTP layer" : "shared experts";
    m.push_back({p + "mlp.gate", mtp ? "MTP layer" : "router", c.n_routed_experts, H});
    const std::int64_t W = c.moe_intermediate_size, E = c.n_routed_experts;
    for (const char* proj : {"gate_proj", "up_proj"}) m.push_back({p + "mlp.experts.0." + proj, ex, E * W, H});
    m.push_back({p + "mlp.experts.0.down_proj", ex, E * H, W});
    if (c.n_shared_experts > 0) {
      const std::int64_t SW = W * c.n_shared_experts;
      for (const char* proj : {"gate_proj", "up_proj"}) m.push_back({p + "mlp.shared_experts." + proj, sh, SW, H});
      m.push_back({p + "mlp.shared_experts.down_proj", sh, H, SW});
    }
    if (mtp) m.push_back({p + "eh_proj", "MTP layer", H, 2 * H});
  }
  return m;
}

double bits_for(const QuantTarget& t, std::int64_t cols) {
  switch (t.kind) {
    case QuantTarget::Kind::Keep: return 16.0;
    case QuantTarget::Kind::Float: return t.type == WeightType::F32 ? 32.0 : 16.0;
    case QuantTarget::Kind::Affine:
      if (cols % t.group_size != 0) return 16.0;  // stays float, as the writer does
      return affine_bits(t.type) + 32.0 / static_cast<double>(t.group_size);  // bf16 scale + bias per group
    case QuantTarget::Kind::Ggml: return weight_bits_per_weight(t.type);
  }
  return 16.0;
}

void add_runtime(MemoryPlan& plan, const GlmConfig& c, const PlanRequest& r) {
  // Cache: bytes per token from the real storage layout (a one-position cache is cheap to build on the CPU).
  const KvFormat latent = kv_format_for_bits(r.kv.kv_bits, "--kv-bits");
  const KvFormat rope = kv_format_for_bits(r.kv.effective_rope_bits(), "--kv-rope-bits");
  const KvFormat keys = r.kv.indexer_bits ? kv_format_for_bits(r.kv.indexer_bits, "--indexer-kv-bits")
                                          : (r.kv.kv_bits == 32 ? KvFormat::F32 : KvFormat::F16);
  auto row_bytes = [&](KvFormat f, std::int64_t width) {
    double b = static_cast<double>(width) * kv_format_bits(f) / 8.0;
    if (f == KvFormat::Q8 || f == KvFormat::Q4) {
      std::int64_t g = r.kv.group_size;
      while (g > 1 && width % g != 0) g /= 2;
      b += 4.0 * static_cast<double>(width / g);  // float16 scale and bias per group
    }
    return b;
  };
  const double ctx = static_cast<double>(r.context);
  const double latent_bytes = ctx * static_cast<double>(c.num_hidden_layers) *
                              (row_bytes(latent, c.kv_lora_rank) + row_bytes(rope, c.qk_rope_head_dim));
  const double index_bytes = ctx * static_cast<double>(c.num_full_indexer_layers()) * row_bytes(keys, c.index_head_dim);
  plan.runtime.push_back({"latent cache", 0, latent_bytes,
                          std::to_string(c.num_hidden_layers) + " layers × (" + kv_format_name(latent) + " latent + " +
                              kv_format_name(rope) + " rope)"});
  plan.runtime.push_back({"indexer key cache", 0, index_bytes,
                          std::to_string(c.num_full_indexer_layers()) + " full layers × " + kv_format_name(keys)});
  // Forward workspace for one prefill chunk (float32 activations) plus per-thread indexer score rows and the
  // attention's decoded rows.
  const double n = static_cast<double>(r.prefill_chunk), H = static_cast<double>(c.hidden_size);
  const double per_row = 4 * H + 2.0 * static_cast<double>(c.q_lora_rank) +
                         static_cast<double>(c.num_attention_heads * (c.qk_head_dim() + c.v_head_dim)) +
                         static_cast<double>(2 * c.kv_lora_rank + c.qk_rope_head_dim) +
                         static_cast<double>(c.n_routed_experts + 2 * c.num_experts_per_tok) +
                         static_cast<double>(c.index_n_heads * (c.index_head_dim + 1) + c.index_head_dim + 2 * c.index_topk + 2) +
                         static_cast<double>(c.vocab_size);
  const double workspace = 4.0 * (n * per_row + static_cast<double>(r.threads) * ctx +
                                  static_cast<double>(c.index_topk * (c.kv_lora_rank + c.qk_rope_head_dim)));
  plan.runtime.push_back({"forward workspace", 0, workspace, "prefill chunk of " + std::to_string(r.prefill_chunk) + " tokens"});
  for (const auto& l : plan.runtime) plan.runtime_bytes += l.bytes;
}

}  // namespace

MemoryPlan plan_memory(const GlmConfig& config, const Recipe& recipe, const PlanRequest& request) {
  MemoryPlan plan;
  std::map<std::string, PlanLine> by_component;
  for (const auto& m : matrix_shapes(config)) {
    QuantTarget t = recipe.target_for(m.module);
    auto& line = by_component[m.component];
    line.item = m.component;
    line.params += m.rows * m.cols;
    line.bytes += static_cast<double>(m.rows * m.cols) * bits_for(t, m.cols) / 8.0;
    if (line.detail.find(t.to_string()) == std::string::npos) line.detail += (line.detail.empty() ? "" : ", ") + t.to_string();
  }
  for (auto& [name, line] : by_component) {
    plan.weights.push_back(line);
    plan.weight_bytes += line.bytes;
  }
  add_runtime(plan, config, request);
  return plan;
}

MemoryPlan plan_memory(const Weights& w, const PlanRequest& request) {
  MemoryPlan plan;
  std::map<std::string, PlanLine> by_component;
  const std::uint8_t* embed_data = w.embed.data;
  w.for_each_matrix([&](const std::string& role, const WeightMatrix& m) {
    if (role == "lm_head" && m.data == embed_data) return;
    std::string comp = role.rfind("mtp.", 0) == 0 ? "MTP layer"
                       : role == "embed" ? "embedding"
                       : role == "lm_head" ? "LM head"
                       : role.find(".indexer.") != std::string::npos ? "indexer"
                       : role.find(".attn.") != std::string::npos ? "attention"
                       : role.find(".experts.") != std::string::npos ? "routed experts"
                       : role.find(".shared_expert.") != std::string::npos ? "shared experts"
                       : role.find(".router") != std::string::npos ? "router"
                                                                     : "dense MLP";
    auto& line = by_component[comp];
    line.item = comp;
    line.params += m.rows * m.cols;
    line.bytes += static_cast<double>(m.bytes());
    const std::string type(weight_type_name(m.type));
    if (line.detail.find(type) == std::string::npos) line.detail += (line.detail.empty() ? "" : ", ") + type;
  });
  for (auto& [name, line] : by_component) {
    plan.weights.push_back(line);
    plan.weight_bytes += line.bytes;
  }
  add_runtime(plan, w.config, request);
  return plan;
}

}  // namespace glmq
