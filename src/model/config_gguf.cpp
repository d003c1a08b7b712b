// GlmConfig from the metadata llama.cpp's converter writes for `glm-dsa` (quant_gguf.md §3.1).
#include "core/error.h"
#include "formats/gguf_file.h"
#include "model/config.h"

namespace glmq {

namespace {

class Keys {
 public:
  explicit Keys(const GgufFile& f) : f_(f) {}

  const GgufValue* find(const std::string& k) const { return f_.find("glm-dsa." + k); }
  std::int64_t integer(const std::string& k) const { return value(k).as_int(name(k)); }
  std::int64_t integer(const std::string& k, std::int64_t fallback) const {
    return find(k) ? integer(k) : fallback;
  }
  std::int64_t positive(const std::string& k) const {
    const std::int64_t v = integer(k);
    if (v <= 0) fail(ErrorKind::Config, f_.path() + ": '" + name(k) + "' must be positive, found " + std::to_string(v));
    return v;
  }
  // Per-layer keys may be arrays (llama.cpp's get_key_or_arr); glmq needs one value for all layers of a kind.
  std::int64_t scalar_or_first(const std::string& k) const {
    const GgufValue& v = value(k);
    if (!v.is_array()) return v.as_int(name(k));
    const auto a = v.as_int_array(name(k));
    for (auto x : a)
      if (x != a.front() && x != 0)
        fail(ErrorKind::Config, f_.path() + ": '" + name(k) + "' differs between layers; glmq needs one value");
    if (a.empty()) fail(ErrorKind::Config, f_.path() + ": '" + name(k) + "' is an empty array");
    return a.front();
  }
  double number(const std::string& k, double fallback) const { return find(k) ? find(k)->as_double(name(k)) : fallback; }
  const GgufValue& value(const std::string& k) const { return f_.get(name(k)); }
  std::string name(const std::string& k) const { return "glm-dsa." + k; }

 private:
  const GgufFile& f_;
};

}  // namespace

GlmConfig GlmConfig::from_gguf(const GgufFile& f) {
  const std::string arch = f.get("general.architecture").as_string("general.architecture");
  if (arch != "glm-dsa")
    fail(ErrorKind::Config, f.path() + ": general.architecture is '" + arch + "', expected 'glm-dsa'");
  const Keys k(f);
  GlmConfig c;
  c.hidden_size = k.positive("embedding_length");
  const std::int64_t blocks = k.positive("block_count");
  c.num_nextn_predict_layers = k.integer("nextn_predict_layers", 0);
  c.num_hidden_layers = blocks - c.num_nextn_predict_layers;
  if (c.num_hidden_layers <= 0 || c.num_nextn_predict_layers < 0)
    fail(ErrorKind::Config, f.path() + ": block_count " + std::to_string(blocks) + " and nextn_predict_layers " +
                                std::to_string(c.num_nextn_predict_layers) + " leave no decoder layers");
  c.max_position_embeddings = k.positive("context_length");
  c.intermediate_size = k.scalar_or_first("feed_forward_length");
  c.moe_intermediate_size = k.scalar_or_first("expert_feed_forward_length");
  c.n_routed_experts = k.positive("expert_count");
  c.num_experts_per_tok = k.positive("expert_used_count");
  c.n_shared_experts = k.integer("expert_shared_count");
  c.n_group = k.integer("expert_group_count", 1);
  c.topk_group = k.integer("expert_group_used_count", 1);
  // The converter writes expert_weights_norm only when true; llama.cpp's default is false.
  c.norm_topk_prob = k.find("expert_weights_norm") ? k.find("expert_weights_norm")->as_bool(k.name("expert_weights_norm")) : false;
  c.routed_scaling_factor = k.number("expert_weights_scale", 1.0);
  if (const std::int64_t gating = k.integer("expert_gating_func", 2); gating != 2)
    fail(ErrorKind::Config, f.path() + ": expert_gating_func " + std::to_string(gating) + " is not supported (2 = sigmoid)");

  c.num_attention_heads = k.positive("attention.head_count");
  c.q_lora_rank = k.positive("attention.q_lora_rank");
  c.kv_lora_rank = k.positive("attention.kv_lora_rank");
  c.qk_rope_head_dim = k.positive("rope.dimension_count");
  const std::int64_t key_mla = k.positive("attention.key_length_mla");
  c.qk_nope_head_dim = key_mla - c.qk_rope_head_dim;
  c.v_head_dim = k.positive("attention.value_length_mla");
  if (c.qk_nope_head_dim <= 0 || c.qk_rope_head_dim % 2 != 0)
    fail(ErrorKind::Config, f.path() + ": key_length_mla " + std::to_string(key_mla) + " and rope.dimension_count " +
                                std::to_string(c.qk_rope_head_dim) + " do not make an even rope part and a positive nope part");
  c.rms_norm_eps = k.number("attention.layer_norm_rms_epsilon", 1e-6);
  c.rope.theta = k.number("rope.freq_base", 10000.0);
  if (const GgufValue* t = k.find("rope.scaling.type")) {
    const std::string type = t->as_string(k.name("rope.scaling.type"));
    if (type != "none")
      fail(ErrorKind::Config, f.path() + ": rope.scaling.type '" + type +
                                  "' is not supported from GGUF metadata (glmq reads yarn from HF config.json)");
  }

  c.index_n_heads = k.positive("attention.indexer.head_count");
  c.index_head_dim = k.positive("attention.indexer.key_length");
  c.index_topk = k.positive("attention.indexer.top_k");

  const std::int64_t dense = k.integer("leading_dense_block_count", 0);
  c.layer_is_dense.assign(static_cast<std::size_t>(c.num_hidden_layers), false);
  for (std::int64_t i = 0; i < c.num_hidden_layers && i < dense; ++i) c.layer_is_dense[static_cast<std::size_t>(i)] = true;
  if (const GgufValue* types = k.find("attention.indexer.types")) {
    c.layer_runs_indexer = types->as_bool_array(k.name("attention.indexer.types"));
    if (static_cast<std::int64_t>(c.layer_runs_indexer.size()) != c.num_hidden_layers)
      fail(ErrorKind::Config, f.path() + ": attention.indexer.types has " + std::to_string(c.layer_runs_indexer.size()) +
                                  " entries, expected one per decoder layer (" + std::to_string(c.num_hidden_layers) + ")");
  } else {
    // llama.cpp's defaults: GLM-5/5.1 (context below 1M) run the indexer everywhere; GLM-5.2 on layers 0, 1, 2, 6, 10, ….
    c.layer_runs_indexer.resize(static_cast<std::size_t>(c.num_hidden_layers));
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
      c.layer_runs_indexer[static_cast<std::size_t>(i)] = c.max_position_embeddings < 1048576 || i < 3 || (i - 2) % 4 == 0;
  }
  if (c.layer_runs_indexer.empty() || !c.layer_runs_indexer.front())
    fail(ErrorKind::Config, f.path() + ": layer 0 must run the indexer (shared layers reuse an earlier layer's top-k)");

  if (c.num_experts_per_tok > c.n_routed_experts || c.n_group <= 0 || c.n_routed_experts % c.n_group != 0 || c.topk_group <= 0 ||
      c.topk_group > c.n_group || c.topk_group * (c.n_routed_experts / c.n_group) < c.num_experts_per_tok)
    fail(ErrorKind::Config, f.path() + ": expert counts are inconsistent (expert_count " + std::to_string(c.n_routed_experts) +
                                ", used " + std::to_string(c.num_experts_per_tok) + ", groups " + std::to_string(c.n_group) + "/" +
                                std::to_string(c.topk_group) + ")");

  // The vocabulary: glm-dsa.vocab_size, else the tokenizer's token list (the loader checks token_embd agrees).
  if (const GgufValue* v = k.find("vocab_size")) c.vocab_size = v->as_int(k.name("vocab_size"));
  else if (const GgufValue* tokens = f.find("tokenizer.ggml.tokens")) c.vocab_size = static_cast<std::int64_t>(tokens->size());
  auto token_id = [&](const char* key) -> std::int64_t {
    const GgufValue* v = f.find(key);
    return v ? v->as_int(key) : -1;
  };
  c.bos_token_id = token_id("tokenizer.ggml.bos_token_id");
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"})
    if (const std::int64_t id = token_id(key); id >= 0) c.eos_token_ids.push_back(id);
  return c;
}

}  // namespace glmq
