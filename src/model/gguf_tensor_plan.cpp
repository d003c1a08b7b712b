#include "model/gguf_tensor_plan.h"

#include <algorithm>

#include "core/error.h"
#include "core/float_convert.h"

namespace glmq {

namespace {

// `n` elements of a float tensor from element `first` on, as float32.
void to_f32(const TensorSource& t, std::int64_t first, std::int64_t n, float* out) {
  const auto i0 = static_cast<std::size_t>(first);
  for (std::int64_t k = 0; k < n; ++k) {
    const std::size_t i = i0 + static_cast<std::size_t>(k);
    switch (t.dtype) {
      case FileDType::F32: out[k] = reinterpret_cast<const float*>(t.data)[i]; break;
      case FileDType::F16: out[k] = f16_to_f32(reinterpret_cast<const std::uint16_t*>(t.data)[i]); break;
      case FileDType::BF16: out[k] = bf16_to_f32(reinterpret_cast<const std::uint16_t*>(t.data)[i]); break;
      default: break;  // excluded by Planner::get
    }
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// conversion/base.py prepare_tensors: what the converter stores as F32 whatever the output type.
bool converter_keeps_f32(const std::string& gguf_name, std::size_t n_dims) {
  return n_dims <= 1 || ends_with(gguf_name, "_norm.weight") || !ends_with(gguf_name, ".weight") ||
         gguf_name.find("ffn_gate_inp.weight") != std::string::npos || gguf_name.find("indexer.proj.weight") != std::string::npos;
}

class Planner {
 public:
  Planner(const TensorStore& store, const GlmConfig& c) : store_(store), c_(c) {}

  bool has(const std::string& hf) const { return store_.contains(hf); }

  // A tensor stored as it is: HF shape [rows, cols] (or [n]) becomes ne [cols, rows] (or [n]).
  void plain(const std::string& gguf, const std::string& hf, const std::vector<std::int64_t>& shape) {
    const TensorSource& t = get(hf, shape);
    std::vector<std::int64_t> ne(shape.rbegin(), shape.rend());
    const std::int64_t n = t.numel();
    add(gguf, ne, t, [&t, n](std::int64_t, float* out) { to_f32(t, 0, n, out); });
  }

  // The routed experts' `proj` ([rows, cols] each) stacked as ne [cols, rows, E].
  void experts(const std::string& gguf, const std::string& layer, const std::string& proj, std::int64_t rows, std::int64_t cols) {
    std::vector<const TensorSource*> parts;
    for (std::int64_t e = 0; e < c_.n_routed_experts; ++e) {
      const TensorSource& t = get(layer + "mlp.experts." + std::to_string(e) + "." + proj + ".weight", {rows, cols});
      if (!parts.empty() && t.dtype != parts.front()->dtype)
        fail(ErrorKind::DType, t.file + ": '" + t.name + "' has dtype " + file_dtype_name(t.dtype) + ", expert 0's is " +
                                   file_dtype_name(parts.front()->dtype));
      parts.push_back(&t);
    }
    add(gguf, {cols, rows, c_.n_routed_experts}, *parts.front(),
        [parts, n = rows * cols](std::int64_t e, float* out) { to_f32(*parts[static_cast<std::size_t>(e)], 0, n, out); });
  }

  // kv_b_proj [heads·(nope + v), R] split per head as the converter does: attn_k_b ne [nope, R, heads] (the
  // head's nope rows transposed) and attn_v_b ne [R, v, heads].
  void kv_b(const std::string& block, const std::string& hf) {
    const std::int64_t H = c_.num_attention_heads, nope = c_.qk_nope_head_dim, v = c_.v_head_dim, R = c_.kv_lora_rank;
    const TensorSource& t = get(hf, {H * (nope + v), R});
    add(block + "attn_k_b.weight", {nope, R, H}, t, [&t, nope, v, R](std::int64_t h, float* out) {
      std::vector<float> row(static_cast<std::size_t>(R));
      for (std::int64_t d = 0; d < nope; ++d) {
        to_f32(t, (h * (nope + v) + d) * R, R, row.data());
        for (std::int64_t r = 0; r < R; ++r) out[r * nope + d] = row[static_cast<std::size_t>(r)];
      }
    });
    add(block + "attn_v_b.weight", {R, v, H}, t,
        [&t, nope, v, R](std::int64_t h, float* out) { to_f32(t, (h * (nope + v) + nope) * R, v * R, out); });
  }

  std::vector<GgufTensorSource> finish() {
    const auto unused = store_.unused_names();
    if (!unused.empty()) {
      std::string list;
      for (std::size_t k = 0; k < unused.size() && k < 5; ++k) list += (k ? ", '" : "'") + unused[k] + "'";
      if (unused.size() > 5) list += " and " + std::to_string(unused.size() - 5) + " more";
      fail(ErrorKind::UnexpectedTensor, store_.location() + ": " + std::to_string(unused.size()) +
                                            " tensor(s) the glm-dsa GGUF layout does not account for: " + list);
    }
    return std::move(out_);
  }

 private:
  const TensorSource& get(const std::string& hf, const std::vector<std::int64_t>& shape) {
    const TensorSource& t = store_.get(hf);
    if (t.shape != shape)
      fail(ErrorKind::Shape, t.file + ": tensor '" + hf + "' has shape " + shape_to_string(t.shape) + ", expected " +
                                 shape_to_string(shape));
    if (t.dtype != FileDType::F32 && t.dtype != FileDType::F16 && t.dtype != FileDType::BF16)
      fail(ErrorKind::DType, t.file + ": tensor '" + hf + "' has dtype " + file_dtype_name(t.dtype) +
                                 "; a GGUF is made from F32, F16 or BF16 weights");
    return t;
  }

  void add(const std::string& gguf, std::vector<std::int64_t> ne, const TensorSource& t,
           std::function<void(std::int64_t, float*)> fill) {
    GgufTensorSource s;
    s.name = gguf;
    s.converted_type = converter_keeps_f32(gguf, ne.size()) ? WeightType::F32 : *to_weight_type(t.dtype);
    s.ne = std::move(ne);
    s.fill = std::move(fill);
    out_.push_back(std::move(s));
  }

  const TensorStore& store_;
  const GlmConfig& c_;
  std::vector<GgufTensorSource> out_;
};

void plan_block(Planner& p, const GlmConfig& c, std::int64_t index, bool dense) {
  const std::string hf = "model.layers." + std::to_string(index) + ".", b = "blk." + std::to_string(index) + ".";
  const std::int64_t H = c.hidden_size, heads = c.num_attention_heads;
  const std::string a = hf + "self_attn.";
  p.plain(b + "attn_norm.weight", hf + "input_layernorm.weight", {H});
  p.plain(b + "attn_q_a.weight", a + "q_a_proj.weight", {c.q_lora_rank, H});
  p.plain(b + "attn_q_a_norm.weight", a + "q_a_layernorm.weight", {c.q_lora_rank});
  p.plain(b + "attn_q_b.weight", a + "q_b_proj.weight", {heads * c.qk_head_dim(), c.q_lora_rank});
  p.plain(b + "attn_kv_a_mqa.weight", a + "kv_a_proj_with_mqa.weight", {c.kv_lora_rank + c.qk_rope_head_dim, H});
  p.plain(b + "attn_kv_a_norm.weight", a + "kv_a_layernorm.weight", {c.kv_lora_rank});
  p.kv_b(b, a + "kv_b_proj.weight");
  p.plain(b + "attn_output.weight", a + "o_proj.weight", {H, heads * c.v_head_dim});
  // Indexer weights: on the layers that run it, and wherever else the checkpoint carries them (the converter
  // writes them; llama.cpp loads them as optional).
  const std::string ix = a + "indexer.";
  if (p.has(ix + "wk.weight")) {
    const std::int64_t ih = c.index_n_heads, id = c.index_head_dim;
    p.plain(b + "indexer.attn_q_b.weight", ix + "wq_b.weight", {ih * id, c.q_lora_rank});
    p.plain(b + "indexer.attn_k.weight", ix + "wk.weight", {id, H});
    p.plain(b + "indexer.k_norm.weight", ix + "k_norm.weight", {id});
    p.plain(b + "indexer.k_norm.bias", ix + "k_norm.bias", {id});
    p.plain(b + "indexer.proj.weight", ix + "weights_proj.weight", {ih, H});
  }
  p.plain(b + "ffn_norm.weight", hf + "post_attention_layernorm.weight", {H});
  const std::string m = hf + "mlp.";
  auto ffn = [&](const std::string& suffix, const std::string& hf_prefix, std::int64_t width) {
    p.plain(b + "ffn_gate" + suffix + ".weight", hf_prefix + "gate_proj.weight", {width, H});
    p.plain(b + "ffn_up" + suffix + ".weight", hf_prefix + "up_proj.weight", {width, H});
    p.plain(b + "ffn_down" + suffix + ".weight", hf_prefix + "down_proj.weight", {H, width});
  };
  if (dense) {
    ffn("", m, c.intermediate_size);
    return;
  }
  const std::int64_t E = c.n_routed_experts, W = c.moe_intermediate_size;
  p.plain(b + "ffn_gate_inp.weight", m + "gate.weight", {E, H});
  if (p.has(m + "gate.e_score_correction_bias")) p.plain(b + "exp_probs_b.bias", m + "gate.e_score_correction_bias", {E});
  p.experts(b + "ffn_gate_exps.weight", hf, "gate_proj", W, H);
  p.experts(b + "ffn_up_exps.weight", hf, "up_proj", W, H);
  p.experts(b + "ffn_down_exps.weight", hf, "down_proj", H, W);
  if (c.n_shared_experts > 0) ffn("_shexp", m + "shared_experts.", W * c.n_shared_experts);
}

}  // namespace

std::vector<GgufTensorSource> plan_glm_dsa_tensors(const TensorStore& store, const GlmConfig& c) {
  Planner p(store, c);
  const std::int64_t H = c.hidden_size, V = c.vocab_size;
  p.plain("token_embd.weight", "model.embed_tokens.weight", {V, H});
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) plan_block(p, c, l, c.layer_is_dense[static_cast<std::size_t>(l)]);
  // The NextN/MTP block, blk.<num_hidden_layers>, when the checkpoint carries it.
  const std::string mp = "model.layers." + std::to_string(c.num_hidden_layers) + ".";
  const std::string mb = "blk." + std::to_string(c.num_hidden_layers) + ".nextn.";
  if (c.num_nextn_predict_layers > 0 && p.has(mp + "eh_proj.weight")) {
    plan_block(p, c, c.num_hidden_layers, !p.has(mp + "mlp.gate.weight"));
    p.plain(mb + "eh_proj.weight", mp + "eh_proj.weight", {H, 2 * H});
    p.plain(mb + "enorm.weight", mp + "enorm.weight", {H});
    p.plain(mb + "hnorm.weight", mp + "hnorm.weight", {H});
    if (p.has(mp + "embed_tokens.weight")) p.plain(mb + "embed_tokens.weight", mp + "embed_tokens.weight", {V, H});
    if (p.has(mp + "shared_head.head.weight")) p.plain(mb + "shared_head_head.weight", mp + "shared_head.head.weight", {V, H});
    if (p.has(mp + "shared_head.norm.weight")) p.plain(mb + "shared_head_norm.weight", mp + "shared_head.norm.weight", {H});
  }
  p.plain("output_norm.weight", "model.norm.weight", {H});
  if (p.has("lm_head.weight")) p.plain("output.weight", "lm_head.weight", {V, H});
  return p.finish();
}

}  // namespace glmq
