// Model::load_gguf: llama.cpp's glm-dsa tensor names and shapes (quant_gguf.md §3.2) onto glmq's Weights.
// GGUF shapes are ne-ordered (ne0 = row length), so a tensor with ne = [cols, rows, n] is n stacked matrices of
// rows × cols; the converter already split kv_b_proj into attn_k_b / attn_v_b, which are glmq's k_absorb / v_expand.
#include <cstring>

#include "core/error.h"
#include "core/float_convert.h"
#include "core/progress.h"
#include "formats/ggml_types.h"
#include "model/weights.h"

namespace glmq {

namespace {

std::string ne_to_string(const std::vector<std::int64_t>& ne) {
  std::string s = "[";
  for (std::size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

class GgufReader {
 public:
  GgufReader(const GgufShards& shards, Progress& progress) : shards_(shards), progress_(progress) {}

  bool has(const std::string& name) const { return shards_.find(name) != nullptr; }

  // A weight with ne = [cols, rows(, n)] as one matrix of n·rows rows.
  WeightMatrix matrix(const std::string& name, std::int64_t rows, std::int64_t cols, std::int64_t stacked = 0) {
    const GgufTensor& t = get(name);
    std::vector<std::int64_t> want = {cols, rows};
    if (stacked) want.push_back(stacked);
    expect_shape(t, want);
    auto type = weight_type_from_ggml(t.ggml_type);
    if (!type)
      fail(ErrorKind::DType, shards_.path() + ": tensor '" + name + "' has type " + ggml_type_name(t.ggml_type) +
                                 ", which glmq does not compute with (F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q5_1, Q2_K…Q6_K, "
                                 "IQ4_NL, IQ4_XS, IQ2_XXS, IQ2_S, IQ3_S)");
    return WeightMatrix{*type, rows * (stacked ? stacked : 1), cols, t.data};
  }

  std::vector<float> vector(const std::string& name, std::int64_t n) {
    const GgufTensor& t = get(name);
    expect_shape(t, {n});
    std::vector<float> out(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < out.size(); ++i) {
      std::uint16_t h = 0;
      switch (t.ggml_type) {
        case 0: std::memcpy(&out[i], t.data + 4 * i, 4); break;
        case 1: std::memcpy(&h, t.data + 2 * i, 2); out[i] = f16_to_f32(h); break;
        case 30: std::memcpy(&h, t.data + 2 * i, 2); out[i] = bf16_to_f32(h); break;
        default:
          fail(ErrorKind::DType, shards_.path() + ": tensor '" + name + "' has type " + ggml_type_name(t.ggml_type) +
                                     ", expected F32, F16 or BF16");
      }
    }
    return out;
  }

  // Tensors llama.cpp tolerates but glmq has no use for here (an indexer on a layer that reuses another's top-k).
  void skip(const std::string& name) {
    if (has(name)) get(name);
  }

 private:
  const GgufTensor& get(const std::string& name) {
    progress_.advance();
    return shards_.get(name);
  }

  void expect_shape(const GgufTensor& t, const std::vector<std::int64_t>& want) const {
    // Writers may keep or drop trailing 1-sized dims; compare up to them.
    bool ok = true;
    for (std::size_t i = 0; i < std::max(t.ne.size(), want.size()); ++i)
      ok = ok && t.dim(i) == (i < want.size() ? want[i] : 1);
    if (!ok)
      fail(ErrorKind::Shape, shards_.path() + ": tensor '" + t.name + "' has ne " + ne_to_string(t.ne) + ", expected " +
                                 ne_to_string(want));
  }

  const GgufShards& shards_;
  Progress& progress_;
};

FfnWeights load_ffn(GgufReader& r, const std::string& p, const std::string& suffix, std::int64_t hidden, std::int64_t width) {
  return {r.matrix(p + "ffn_gate" + suffix + ".weight", width, hidden), r.matrix(p + "ffn_up" + suffix + ".weight", width, hidden),
          r.matrix(p + "ffn_down" + suffix + ".weight", hidden, width)};
}

LayerWeights load_layer(GgufReader& r, const GlmConfig& c, std::int64_t block, bool dense, bool runs_indexer) {
  const std::string p = "blk." + std::to_string(block) + ".";
  const std::int64_t H = c.hidden_size, heads = c.num_attention_heads;
  LayerWeights L;
  L.attn_norm = r.vector(p + "attn_norm.weight", H);
  L.ffn_norm = r.vector(p + "ffn_norm.weight", H);
  AttentionWeights& a = L.attn;
  a.q_a = r.matrix(p + "attn_q_a.weight", c.q_lora_rank, H);
  a.q_a_norm = r.vector(p + "attn_q_a_norm.weight", c.q_lora_rank);
  a.q_b = r.matrix(p + "attn_q_b.weight", heads * c.qk_head_dim(), c.q_lora_rank);
  a.kv_a = r.matrix(p + "attn_kv_a_mqa.weight", c.kv_lora_rank + c.qk_rope_head_dim, H);
  a.kv_a_norm = r.vector(p + "attn_kv_a_norm.weight", c.kv_lora_rank);
  a.k_absorb = r.matrix(p + "attn_k_b.weight", c.kv_lora_rank, c.qk_nope_head_dim, heads);
  a.v_expand = r.matrix(p + "attn_v_b.weight", c.v_head_dim, c.kv_lora_rank, heads);
  a.o = r.matrix(p + "attn_output.weight", H, heads * c.v_head_dim);
  const std::string ix = p + "indexer.";
  if (runs_indexer) {
    IndexerWeights w;
    w.wq_b = r.matrix(ix + "attn_q_b.weight", c.index_n_heads * c.index_head_dim, c.q_lora_rank);
    w.wk = r.matrix(ix + "attn_k.weight", c.index_head_dim, H);
    w.k_norm_weight = r.vector(ix + "k_norm.weight", c.index_head_dim);
    w.k_norm_bias = r.vector(ix + "k_norm.bias", c.index_head_dim);
    w.weights_proj = r.matrix(ix + "proj.weight", c.index_n_heads, H);
    a.indexer = std::move(w);
  } else {
    for (const char* n : {"attn_q_b.weight", "attn_k.weight", "k_norm.weight", "k_norm.bias", "proj.weight"}) r.skip(ix + n);
  }
  if (dense) {
    L.dense = load_ffn(r, p, "", H, c.intermediate_size);
    return L;
  }
  MoeWeights moe;
  const std::int64_t E = c.n_routed_experts, W = c.moe_intermediate_size;
  moe.router = r.matrix(p + "ffn_gate_inp.weight", E, H);
  moe.correction_bias = r.has(p + "exp_probs_b.bias") ? r.vector(p + "exp_probs_b.bias", E)
                                                      : std::vector<float>(static_cast<std::size_t>(E), 0.0f);
  // Stacked experts: expert e is the contiguous slab of rows [e·out, (e+1)·out).
  const WeightMatrix g = r.matrix(p + "ffn_gate_exps.weight", W, H, E);
  const WeightMatrix u = r.matrix(p + "ffn_up_exps.weight", W, H, E);
  const WeightMatrix d = r.matrix(p + "ffn_down_exps.weight", H, W, E);
  for (std::int64_t e = 0; e < E; ++e) moe.experts.push_back({g.row_range(e * W, W), u.row_range(e * W, W), d.row_range(e * H, H)});
  if (c.n_shared_experts > 0) moe.shared = load_ffn(r, p, "_shexp", H, W * c.n_shared_experts);
  L.moe = std::move(moe);
  return L;
}

}  // namespace

std::unique_ptr<Model> Model::load_gguf(const std::string& path) {
  auto model = std::make_unique<Model>();
  model->gguf = std::make_unique<GgufShards>(path);
  const GgufShards& shards = *model->gguf;
  GlmConfig c = GlmConfig::from_gguf(shards.metadata_file());
  Progress progress("loading " + path, shards.names().size());
  GgufReader r(shards, progress);
  Weights& w = model->weights;
  if (const GgufTensor* embd = shards.find("token_embd.weight"); embd && c.vocab_size == 0) c.vocab_size = embd->dim(1);
  w.embed = r.matrix("token_embd.weight", c.vocab_size, c.hidden_size);
  c.tie_word_embeddings = !r.has("output.weight");
  w.lm_head = c.tie_word_embeddings ? w.embed : r.matrix("output.weight", c.vocab_size, c.hidden_size);
  w.final_norm = r.vector("output_norm.weight", c.hidden_size);
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const auto i = static_cast<std::size_t>(l);
    w.layers.push_back(load_layer(r, c, l, c.layer_is_dense[i], c.layer_runs_indexer[i]));
  }
  // The NextN/MTP block is the last one (blk.<num_hidden_layers>), when the file carries it.
  const std::string mp = "blk." + std::to_string(c.num_hidden_layers) + ".";
  if (c.num_nextn_predict_layers > 0 && r.has(mp + "nextn.eh_proj.weight")) {
    MtpWeights mtp;
    mtp.layer = load_layer(r, c, c.num_hidden_layers, !r.has(mp + "ffn_gate_inp.weight"), r.has(mp + "indexer.attn_k.weight"));
    mtp.enorm = r.vector(mp + "nextn.enorm.weight", c.hidden_size);
    mtp.hnorm = r.vector(mp + "nextn.hnorm.weight", c.hidden_size);
    mtp.eh_proj = r.matrix(mp + "nextn.eh_proj.weight", c.hidden_size, 2 * c.hidden_size);
    mtp.shared_head_norm = r.has(mp + "nextn.shared_head_norm.weight") ? r.vector(mp + "nextn.shared_head_norm.weight", c.hidden_size)
                                                                        : w.final_norm;
    if (r.has(mp + "nextn.shared_head_head.weight"))
      mtp.shared_head = r.matrix(mp + "nextn.shared_head_head.weight", c.vocab_size, c.hidden_size);
    if (r.has(mp + "nextn.embed_tokens.weight")) mtp.embed = r.matrix(mp + "nextn.embed_tokens.weight", c.vocab_size, c.hidden_size);
    w.mtp = std::move(mtp);
  }
  const auto unused = shards.unused_names();
  if (!unused.empty()) {
    std::string list;
    for (std::size_t k = 0; k < unused.size() && k < 5; ++k) list += (k ? ", '" : "'") + unused[k] + "'";
    if (unused.size() > 5) list += " and " + std::to_string(unused.size() - 5) + " more";
    fail(ErrorKind::UnexpectedTensor, path + ": " + std::to_string(unused.size()) + " tensor(s) glm-dsa does not account for: " + list);
  }
  w.config = std::move(c);
  progress.finish("loaded " + std::to_string(shards.names().size()) + " tensors from " + std::to_string(shards.files().size()) +
                  " file(s) (" + std::to_string(static_cast<double>(w.total_bytes()) / 1e6).substr(0, 6) + " MB) in " +
                  std::to_string(progress.elapsed_seconds()).substr(0, 4) + " s");
  return model;
}

}  // namespace glmq
