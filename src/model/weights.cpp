#include "model/weights.h"

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/float_convert.h"
#include "core/json_file.h"
#include "core/progress.h"

namespace glmq {

namespace {

std::int64_t product(const std::vector<std::int64_t>& v) {
  std::int64_t n = 1;
  for (auto d : v) n *= d;
  return n;
}

// Reads a checkpoint's tensors by module path ("model.layers.3.self_attn.q_a_proj"), in HF layout or in
// MLX layout (packed affine `.weight` + `.scales` + `.biases`, stacked experts, split kv_b_proj), checking
// shape and type against what the config implies.
class TensorReader {
 public:
  TensorReader(const TensorStore& store, const Json& quantization, Progress& progress)
      : store_(store), quantization_(quantization), progress_(progress) {}

  bool has(const std::string& name) const { return store_.contains(name); }

  // A weight of logical shape leading × [rows, cols], returned as one matrix of product(leading)·rows rows.
  WeightMatrix matrix(const std::string& module, std::int64_t rows, std::int64_t cols,
                      const std::vector<std::int64_t>& leading = {}) {
    const TensorSource& t = get(module + ".weight");
    std::vector<std::int64_t> want = leading;
    want.push_back(rows);
    const std::int64_t total_rows = product(leading) * rows;
    if (!has(module + ".scales")) {
      want.push_back(cols);
      expect_shape(t, want);
      auto type = to_weight_type(t.dtype);
      if (!type)
        fail(ErrorKind::DType, t.file + ": tensor '" + t.name + "' has dtype " + file_dtype_name(t.dtype) +
                                   ", expected F32, F16 or BF16 (or U32 with .scales/.biases for MLX affine)");
      return WeightMatrix{*type, total_rows, cols, t.data};
    }
    return affine(module, t, want, total_rows, cols);
  }

  std::vector<float> vector(const std::string& name, std::int64_t n) {
    const TensorSource& t = get(name);
    expect_shape(t, {n});
    std::vector<float> out(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = element(t, i);
    return out;
  }

 private:
  const TensorSource& get(const std::string& name) {
    progress_.advance();
    return store_.get(name);
  }

  WeightMatrix affine(const std::string& module, const TensorSource& t, std::vector<std::int64_t> want,
                      std::int64_t total_rows, std::int64_t cols) {
    const TensorSource& sc = get(module + ".scales");
    const TensorSource& bi = get(module + ".biases");
    if (t.dtype != FileDType::U32)
      fail(ErrorKind::DType, t.file + ": quantized tensor '" + t.name + "' has dtype " + file_dtype_name(t.dtype) + ", expected U32");
    if (t.shape.size() != want.size() + 1 || sc.shape.size() != want.size() + 1)
      fail(ErrorKind::Shape, t.file + ": quantized tensor '" + t.name + "' has shape " + shape_to_string(t.shape) +
                                 ", expected " + std::to_string(want.size() + 1) + " dimensions");
    // MLX's rule: group size and bits follow from the shapes; the config only has to agree.
    const std::int64_t groups = sc.shape.back();
    if (groups <= 0 || cols % groups != 0)
      fail(ErrorKind::Shape, sc.file + ": '" + sc.name + "' has " + std::to_string(groups) + " groups per row, which do not divide " +
                                 std::to_string(cols) + " inputs");
    const std::int64_t group_size = cols / groups;
    const std::int64_t words = t.shape.back();
    const std::int64_t bits = words * 32 / cols;
    auto type = affine_type_for_bits(static_cast<int>(bits));
    if (words * 32 % cols != 0 || !type || (group_size != 32 && group_size != 64 && group_size != 128))
      fail(ErrorKind::Shape, t.file + ": '" + t.name + "' with shape " + shape_to_string(t.shape) + " and " + std::to_string(groups) +
                                 " groups per row is not an MLX affine layout of " + std::to_string(cols) +
                                 " inputs (bits 2-8, group size 32/64/128)");
    std::vector<std::int64_t> want_codes = want, want_aux = want;
    want_codes.push_back(words);
    want_aux.push_back(groups);
    expect_shape(t, want_codes);
    expect_shape(sc, want_aux);
    expect_shape(bi, want_aux);
    auto aux = to_weight_type(sc.dtype);
    if (!aux || bi.dtype != sc.dtype)
      fail(ErrorKind::DType, sc.file + ": scales/biases of '" + module + "' have dtypes " + file_dtype_name(sc.dtype) + "/" +
                                 file_dtype_name(bi.dtype) + ", expected one of F32, F16, BF16 for both");
    check_against_config(module, static_cast<int>(bits), group_size);
    WeightMatrix m{*type, total_rows, cols, t.data};
    m.scales = sc.data;
    m.biases = bi.data;
    m.aux_type = *aux;
    m.group_size = group_size;
    return m;
  }

  void check_against_config(const std::string& module, int bits, std::int64_t group_size) const {
    if (!quantization_.is_object()) return;
    const Json* entry = &quantization_;
    if (quantization_.contains(module) && quantization_[module].is_object()) entry = &quantization_[module];
    else if (quantization_.contains(module)) return;  // `false` or another marker: shapes decide
    if (entry->contains("mode") && (*entry)["mode"].is_string() && (*entry)["mode"] != "affine")
      fail(ErrorKind::DType, "config.json quantization: mode '" + (*entry)["mode"].get<std::string>() + "' of '" + module +
                                 "' is not supported (glmq reads MLX affine)");
    if (entry == &quantization_) return;  // the global bits/group_size are only defaults
    if (entry->contains("bits") && (*entry)["bits"].is_number_integer() && (*entry)["bits"].get<int>() != bits)
      fail(ErrorKind::Config, "config.json quantization: '" + module + "' says " + std::to_string((*entry)["bits"].get<int>()) +
                                  " bits, the tensors hold " + std::to_string(bits));
    if (entry->contains("group_size") && (*entry)["group_size"].is_number_integer() &&
        (*entry)["group_size"].get<std::int64_t>() != group_size)
      fail(ErrorKind::Config, "config.json quantization: '" + module + "' says group size " +
                                  std::to_string((*entry)["group_size"].get<std::int64_t>()) + ", the tensors hold " +
                                  std::to_string(group_size));
  }

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
  const Json& quantization_;
  Progress& progress_;
};

FfnWeights load_ffn(TensorReader& r, const std::string& prefix, std::int64_t hidden, std::int64_t width) {
  FfnWeights f;
  f.gate = r.matrix(prefix + "gate_proj", width, hidden);
  f.up = r.matrix(prefix + "up_proj", width, hidden);
  f.down = r.matrix(prefix + "down_proj", hidden, width);
  return f;
}

// HF stores kv_b_proj as [heads·(nope+v), latent]; glmq keeps its two absorbed halves, so re-lay it out once.
void split_kv_b(const WeightMatrix& kv_b, const GlmConfig& c, AttentionWeights& a, Model& model) {
  if (!is_float_type(kv_b.type))
    fail(ErrorKind::DType, "a quantized kv_b_proj is not supported; store embed_q/unembed_out (as mlx_lm.convert does)");
  const std::int64_t H = c.num_attention_heads, nope = c.qk_nope_head_dim, v = c.v_head_dim, R = c.kv_lora_rank;
  const std::size_t es = weight_row_bytes(kv_b.type, 1);
  auto k = std::make_unique<std::uint8_t[]>(static_cast<std::size_t>(H * R * nope) * es);
  auto vv = std::make_unique<std::uint8_t[]>(static_cast<std::size_t>(H * v * R) * es);
  for (std::int64_t h = 0; h < H; ++h) {
    for (std::int64_t d = 0; d < nope; ++d)
      for (std::int64_t col = 0; col < R; ++col)
        std::memcpy(k.get() + static_cast<std::size_t>((h * R + col) * nope + d) * es,
                    kv_b.row(h * (nope + v) + d) + static_cast<std::size_t>(col) * es, es);
    for (std::int64_t i = 0; i < v; ++i)
      std::memcpy(vv.get() + static_cast<std::size_t>((h * v + i) * R) * es, kv_b.row(h * (nope + v) + nope + i),
                  static_cast<std::size_t>(R) * es);
  }
  a.k_absorb = WeightMatrix{kv_b.type, H * R, nope, k.get()};
  a.v_expand = WeightMatrix{kv_b.type, H * v, R, vv.get()};
  model.owned.push_back(std::move(k));
  model.owned.push_back(std::move(vv));
}

LayerWeights load_layer(TensorReader& r, const GlmConfig& c, const std::string& p, bool dense, bool runs_indexer, Model& model) {
  const std::int64_t H = c.hidden_size, heads = c.num_attention_heads;
  LayerWeights L;
  L.attn_norm = r.vector(p + "input_layernorm.weight", H);
  L.ffn_norm = r.vector(p + "post_attention_layernorm.weight", H);
  AttentionWeights& a = L.attn;
  const std::string s = p + "self_attn.";
  a.q_a = r.matrix(s + "q_a_proj", c.q_lora_rank, H);
  a.q_a_norm = r.vector(s + "q_a_layernorm.weight", c.q_lora_rank);
  a.q_b = r.matrix(s + "q_b_proj", heads * c.qk_head_dim(), c.q_lora_rank);
  a.kv_a = r.matrix(s + "kv_a_proj_with_mqa", c.kv_lora_rank + c.qk_rope_head_dim, H);
  a.kv_a_norm = r.vector(s + "kv_a_layernorm.weight", c.kv_lora_rank);
  if (r.has(s + "kv_b_proj.weight")) {
    split_kv_b(r.matrix(s + "kv_b_proj", heads * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank), c, a, model);
  } else if (r.has(s + "embed_q.weight")) {
    a.k_absorb = r.matrix(s + "embed_q", c.kv_lora_rank, c.qk_nope_head_dim, {heads});
    a.v_expand = r.matrix(s + "unembed_out", c.v_head_dim, c.kv_lora_rank, {heads});
  } else {
    fail(ErrorKind::MissingTensor, "tensor '" + s + "kv_b_proj.weight' not found (nor its MLX halves embed_q/unembed_out)");
  }
  a.o = r.matrix(s + "o_proj", H, heads * c.v_head_dim);
  if (runs_indexer) {
    IndexerWeights ix;
    const std::string i = s + "indexer.";
    ix.wq_b = r.matrix(i + "wq_b", c.index_n_heads * c.index_head_dim, c.q_lora_rank);
    ix.wk = r.matrix(i + "wk", c.index_head_dim, H);
    ix.k_norm_weight = r.vector(i + "k_norm.weight", c.index_head_dim);
    ix.k_norm_bias = r.vector(i + "k_norm.bias", c.index_head_dim);
    ix.weights_proj = r.matrix(i + "weights_proj", c.index_n_heads, H);
    a.indexer = std::move(ix);
  }
  const std::string m = p + "mlp.";
  if (dense) {
    L.dense = load_ffn(r, m, H, c.intermediate_size);
  } else {
    MoeWeights moe;
    moe.router = r.matrix(m + "gate", c.n_routed_experts, H);
    moe.correction_bias = r.has(m + "gate.e_score_correction_bias")
                              ? r.vector(m + "gate.e_score_correction_bias", c.n_routed_experts)
                              : std::vector<float>(static_cast<std::size_t>(c.n_routed_experts), 0.0f);
    const std::int64_t E = c.n_routed_experts, W = c.moe_intermediate_size;
    if (r.has(m + "switch_mlp.gate_proj.weight")) {
      // MLX stacks the experts: [E, out, in] per projection.
      WeightMatrix g = r.matrix(m + "switch_mlp.gate_proj", W, H, {E});
      WeightMatrix u = r.matrix(m + "switch_mlp.up_proj", W, H, {E});
      WeightMatrix d = r.matrix(m + "switch_mlp.down_proj", H, W, {E});
      for (std::int64_t e = 0; e < E; ++e) moe.experts.push_back({g.row_range(e * W, W), u.row_range(e * W, W), d.row_range(e * H, H)});
    } else {
      for (std::int64_t e = 0; e < E; ++e) moe.experts.push_back(load_ffn(r, m + "experts." + std::to_string(e) + ".", H, W));
    }
    if (c.n_shared_experts > 0) moe.shared = load_ffn(r, m + "shared_experts.", H, W * c.n_shared_experts);
    L.moe = std::move(moe);
  }
  return L;
}

}  // namespace

namespace {

template <typename LayerT, typename Visit>
void visit_layer(LayerT& L, const std::string& p, Visit&& visit) {
  auto& a = L.attn;
  visit(p + "attn.q_a", a.q_a);
  visit(p + "attn.q_b", a.q_b);
  visit(p + "attn.kv_a", a.kv_a);
  visit(p + "attn.k_absorb", a.k_absorb);
  visit(p + "attn.v_expand", a.v_expand);
  visit(p + "attn.o", a.o);
  if (a.indexer) {
    visit(p + "indexer.wq_b", a.indexer->wq_b);
    visit(p + "indexer.wk", a.indexer->wk);
    visit(p + "indexer.weights_proj", a.indexer->weights_proj);
  }
  auto ffn = [&](const std::string& q, auto& f) {
    visit(q + ".gate", f.gate);
    visit(q + ".up", f.up);
    visit(q + ".down", f.down);
  };
  if (L.dense) ffn(p + "dense", *L.dense);
  if (L.moe) {
    visit(p + "router", L.moe->router);
    for (std::size_t e = 0; e < L.moe->experts.size(); ++e) ffn(p + "experts." + std::to_string(e), L.moe->experts[e]);
    if (L.moe->shared) ffn(p + "shared_expert", *L.moe->shared);
  }
}

template <typename WeightsT, typename Visit>
void visit_weights(WeightsT& w, Visit&& visit) {
  visit("embed", w.embed);
  for (std::size_t l = 0; l < w.layers.size(); ++l) visit_layer(w.layers[l], "layers." + std::to_string(l) + ".", visit);
  visit("lm_head", w.lm_head);
  if (w.mtp) {
    visit_layer(w.mtp->layer, "mtp.", visit);
    visit("mtp.eh_proj", w.mtp->eh_proj);
    if (w.mtp->shared_head) visit("mtp.shared_head", *w.mtp->shared_head);
    if (w.mtp->embed) visit("mtp.embed", *w.mtp->embed);
  }
}

}  // namespace

void Weights::for_each_matrix(const std::function<void(const std::string&, WeightMatrix&)>& visit) { visit_weights(*this, visit); }

void Weights::for_each_matrix(const std::function<void(const std::string&, const WeightMatrix&)>& visit) const {
  visit_weights(*this, visit);
}

std::size_t Weights::total_bytes() const {
  std::size_t n = 0;
  const std::uint8_t* embed_data = embed.data;
  for_each_matrix([&](const std::string& role, const WeightMatrix& m) {
    if (role == "lm_head" && m.data == embed_data) return;  // tied embeddings count once
    n += m.bytes();
  });
  return n;
}

std::unique_ptr<Model> Model::load_hf(const std::string& dir) {
  auto model = std::make_unique<Model>();
  const std::string config_path = (std::filesystem::path(dir) / "config.json").string();
  const Json config_json = read_json_file(config_path);
  GlmConfig c = GlmConfig::from_hf_json(config_json, config_path);
  model->store = std::make_unique<TensorStore>(TensorStore::open_hf_dir(dir));
  const TensorStore& store = *model->store;
  Progress progress("loading " + dir, store.names().size());
  // MLX builds describe their quantization in config.json ("quantization", mirrored as "quantization_config").
  const Json quantization = config_json.contains("quantization") ? config_json["quantization"] : Json();
  TensorReader r(store, quantization, progress);
  Weights& w = model->weights;
  w.embed = r.matrix("model.embed_tokens", c.vocab_size, c.hidden_size);
  if (r.has("lm_head.weight")) {
    w.lm_head = r.matrix("lm_head", c.vocab_size, c.hidden_size);
  } else if (c.tie_word_embeddings) {
    w.lm_head = w.embed;
  } else {
    fail(ErrorKind::MissingTensor, dir + ": tensor 'lm_head.weight' not found (and tie_word_embeddings is false)");
  }
  w.final_norm = r.vector("model.norm.weight", c.hidden_size);
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    auto i = static_cast<std::size_t>(l);
    w.layers.push_back(load_layer(r, c, "model.layers." + std::to_string(l) + ".", c.layer_is_dense[i], c.layer_runs_indexer[i], *model));
  }
  // The NextN/MTP layer, when the checkpoint carries it.
  const std::string mp = "model.layers." + std::to_string(c.num_hidden_layers) + ".";
  if (r.has(mp + "eh_proj.weight")) {
    MtpWeights mtp;
    const bool mtp_dense = !r.has(mp + "mlp.gate.weight");
    const bool mtp_indexer = r.has(mp + "self_attn.indexer.wk.weight");
    mtp.layer = load_layer(r, c, mp, mtp_dense, mtp_indexer, *model);
    mtp.enorm = r.vector(mp + "enorm.weight", c.hidden_size);
    mtp.hnorm = r.vector(mp + "hnorm.weight", c.hidden_size);
    mtp.eh_proj = r.matrix(mp + "eh_proj", c.hidden_size, 2 * c.hidden_size);
    mtp.shared_head_norm = r.vector(mp + "shared_head.norm.weight", c.hidden_size);
    if (r.has(mp + "shared_head.head.weight")) mtp.shared_head = r.matrix(mp + "shared_head.head", c.vocab_size, c.hidden_size);
    if (r.has(mp + "embed_tokens.weight")) mtp.embed = r.matrix(mp + "embed_tokens", c.vocab_size, c.hidden_size);
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
