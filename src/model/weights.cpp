#include "model/weights.h"

#include <filesystem>

#include "core/error.h"
#include "core/float_convert.h"
#include "core/progress.h"

namespace glmq {

namespace {

// Reads tensors out of a TensorStore, checking shape and type against what the config implies.
class HfTensorReader {
 public:
  HfTensorReader(const TensorStore& store, Progress& progress) : store_(store), progress_(progress) {}

  WeightMatrix matrix(const std::string& name, std::int64_t rows, std::int64_t cols) {
    const TensorSource& t = store_.get(name);
    progress_.advance();
    expect_shape(t, {rows, cols});
    auto type = to_weight_type(t.dtype);
    if (!type)
      fail(ErrorKind::DType, t.file + ": tensor '" + name + "' has dtype " + file_dtype_name(t.dtype) +
                                 ", expected F32, F16 or BF16");
    return WeightMatrix{*type, rows, cols, t.data};
  }

  std::vector<float> vector(const std::string& name, std::int64_t n) {
    const TensorSource& t = store_.get(name);
    progress_.advance();
    expect_shape(t, {n});
    std::vector<float> out(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = element(t, i);
    return out;
  }

  bool has(const std::string& name) const { return store_.contains(name); }

 private:
  static void expect_shape(const TensorSource& t, const std::vector<std::int64_t>& want) {
    if (t.shape != want)
      fail(ErrorKind::Shape, t.file + ": tensor '" + t.name + "' has shape " + shape_to_string(t.shape) + ", expected " +
                                 shape_to_string(want));
  }
  static float element(const TensorSource& t, std::size_t i) {
    switch (t.dtype) {
      case FileDType::F32: return reinterpret_cast<const float*>(t.data)[i];
      case FileDType::F16: return f16_to_f32(reinterpret_cast<const std::uint16_t*>(t.data)[i]);
      case FileDType::BF16: return bf16_to_f32(reinterpret_cast<const std::uint16_t*>(t.data)[i]);
      default:
        fail(ErrorKind::DType, t.file + ": tensor '" + t.name + "' has dtype " + file_dtype_name(t.dtype) +
                                   ", expected F32, F16 or BF16");
    }
  }

  const TensorStore& store_;
  Progress& progress_;
};

FfnWeights load_ffn(HfTensorReader& r, const std::string& prefix, std::int64_t hidden, std::int64_t width) {
  FfnWeights f;
  f.gate = r.matrix(prefix + "gate_proj.weight", width, hidden);
  f.up = r.matrix(prefix + "up_proj.weight", width, hidden);
  f.down = r.matrix(prefix + "down_proj.weight", hidden, width);
  return f;
}

LayerWeights load_layer(HfTensorReader& r, const GlmConfig& c, const std::string& p, bool dense, bool runs_indexer) {
  const std::int64_t H = c.hidden_size, heads = c.num_attention_heads;
  LayerWeights L;
  L.attn_norm = r.vector(p + "input_layernorm.weight", H);
  L.ffn_norm = r.vector(p + "post_attention_layernorm.weight", H);
  AttentionWeights& a = L.attn;
  const std::string s = p + "self_attn.";
  a.q_a = r.matrix(s + "q_a_proj.weight", c.q_lora_rank, H);
  a.q_a_norm = r.vector(s + "q_a_layernorm.weight", c.q_lora_rank);
  a.q_b = r.matrix(s + "q_b_proj.weight", heads * c.qk_head_dim(), c.q_lora_rank);
  a.kv_a = r.matrix(s + "kv_a_proj_with_mqa.weight", c.kv_lora_rank + c.qk_rope_head_dim, H);
  a.kv_a_norm = r.vector(s + "kv_a_layernorm.weight", c.kv_lora_rank);
  a.kv_b = r.matrix(s + "kv_b_proj.weight", heads * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
  a.o = r.matrix(s + "o_proj.weight", H, heads * c.v_head_dim);
  if (runs_indexer) {
    IndexerWeights ix;
    const std::string i = s + "indexer.";
    ix.wq_b = r.matrix(i + "wq_b.weight", c.index_n_heads * c.index_head_dim, c.q_lora_rank);
    ix.wk = r.matrix(i + "wk.weight", c.index_head_dim, H);
    ix.k_norm_weight = r.vector(i + "k_norm.weight", c.index_head_dim);
    ix.k_norm_bias = r.vector(i + "k_norm.bias", c.index_head_dim);
    ix.weights_proj = r.matrix(i + "weights_proj.weight", c.index_n_heads, H);
    a.indexer = std::move(ix);
  }
  const std::string m = p + "mlp.";
  if (dense) {
    L.dense = load_ffn(r, m, H, c.intermediate_size);
  } else {
    MoeWeights moe;
    moe.router = r.matrix(m + "gate.weight", c.n_routed_experts, H);
    moe.correction_bias = r.has(m + "gate.e_score_correction_bias")
                              ? r.vector(m + "gate.e_score_correction_bias", c.n_routed_experts)
                              : std::vector<float>(static_cast<std::size_t>(c.n_routed_experts), 0.0f);
    for (std::int64_t e = 0; e < c.n_routed_experts; ++e)
      moe.experts.push_back(load_ffn(r, m + "experts." + std::to_string(e) + ".", H, c.moe_intermediate_size));
    if (c.n_shared_experts > 0)
      moe.shared = load_ffn(r, m + "shared_experts.", H, c.moe_intermediate_size * c.n_shared_experts);
    L.moe = std::move(moe);
  }
  return L;
}

}  // namespace

std::size_t Weights::total_bytes() const {
  std::size_t n = embed.bytes() + (lm_head.data == embed.data ? 0 : lm_head.bytes());
  auto ffn = [](const FfnWeights& f) { return f.gate.bytes() + f.up.bytes() + f.down.bytes(); };
  for (const auto& L : layers) {
    const auto& a = L.attn;
    n += a.q_a.bytes() + a.q_b.bytes() + a.kv_a.bytes() + a.kv_b.bytes() + a.o.bytes();
    if (a.indexer) n += a.indexer->wq_b.bytes() + a.indexer->wk.bytes() + a.indexer->weights_proj.bytes();
    if (L.dense) n += ffn(*L.dense);
    if (L.moe) {
      n += L.moe->router.bytes();
      for (const auto& e : L.moe->experts) n += ffn(e);
      if (L.moe->shared) n += ffn(*L.moe->shared);
    }
  }
  return n;
}

std::unique_ptr<Model> Model::load_hf(const std::string& dir) {
  auto model = std::make_unique<Model>();
  GlmConfig c = GlmConfig::from_hf_dir(dir);
  model->store = std::make_unique<TensorStore>(TensorStore::open_hf_dir(dir));
  const TensorStore& store = *model->store;
  Progress progress("loading " + dir, store.names().size());
  HfTensorReader r(store, progress);
  Weights& w = model->weights;
  w.embed = r.matrix("model.embed_tokens.weight", c.vocab_size, c.hidden_size);
  if (r.has("lm_head.weight")) {
    w.lm_head = r.matrix("lm_head.weight", c.vocab_size, c.hidden_size);
  } else if (c.tie_word_embeddings) {
    w.lm_head = w.embed;
  } else {
    fail(ErrorKind::MissingTensor, dir + ": tensor 'lm_head.weight' not found (and tie_word_embeddings is false)");
  }
  w.final_norm = r.vector("model.norm.weight", c.hidden_size);
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    auto i = static_cast<std::size_t>(l);
    w.layers.push_back(load_layer(r, c, "model.layers." + std::to_string(l) + ".", c.layer_is_dense[i], c.layer_runs_indexer[i]));
  }
  // The NextN/MTP layer, when the checkpoint carries it.
  const std::string mp = "model.layers." + std::to_string(c.num_hidden_layers) + ".";
  if (r.has(mp + "eh_proj.weight")) {
    MtpWeights mtp;
    const bool mtp_dense = !r.has(mp + "mlp.gate.weight");
    const bool mtp_indexer = r.has(mp + "self_attn.indexer.wk.weight");
    mtp.layer = load_layer(r, c, mp, mtp_dense, mtp_indexer);
    mtp.enorm = r.vector(mp + "enorm.weight", c.hidden_size);
    mtp.hnorm = r.vector(mp + "hnorm.weight", c.hidden_size);
    mtp.eh_proj = r.matrix(mp + "eh_proj.weight", c.hidden_size, 2 * c.hidden_size);
    mtp.shared_head_norm = r.vector(mp + "shared_head.norm.weight", c.hidden_size);
    if (r.has(mp + "shared_head.head.weight")) mtp.shared_head = r.matrix(mp + "shared_head.head.weight", c.vocab_size, c.hidden_size);
    if (r.has(mp + "embed_tokens.weight")) mtp.embed = r.matrix(mp + "embed_tokens.weight", c.vocab_size, c.hidden_size);
    w.mtp = std::move(mtp);
  }
  auto unused = store.unused_names();
  if (!unused.empty()) {
    std::string list;
    for (std::size_t k = 0; k < unused.size() && k < 5; ++k) list += (k ? ", '" : "'") + unused[k] + "'";
    if (unused.size() > 5) list += " and " + std::to_string(unused.size() - 5) + " more";
    fail(ErrorKind::UnexpectedTensor, dir + ": " + std::to_string(unused.size()) +
                                          " tensor(s) the config does not account for: " + list);
  }
  w.config = std::move(c);
  progress.finish("loaded " + std::to_string(store.names().size()) + " tensors (" +
                  std::to_string(static_cast<double>(w.total_bytes()) / 1e6).substr(0, 6) + " MB) in " +
                  std::to_string(progress.elapsed_seconds()).substr(0, 4) + " s");
  return model;
}

}  // namespace glmq
