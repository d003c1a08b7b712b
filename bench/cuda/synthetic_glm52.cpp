#include "synthetic_glm52.h"

#include <cstring>

#include "core/float_convert.h"

namespace glmq::bench {

namespace {
std::uint64_t splitmix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

WeightMatrix SyntheticGlm52::matrix(WeightType type, std::int64_t rows, std::int64_t cols) {
  WeightMatrix m;
  m.type = type;
  m.rows = rows;
  m.cols = cols;
  const std::size_t bytes = static_cast<std::size_t>(rows) * m.row_bytes();
  auto fill_random = [&](std::size_t n) {
    auto p = std::make_unique<std::uint8_t[]>(n);
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
      const std::uint64_t r = splitmix(seed_);
      std::memcpy(p.get() + i, &r, 8);
    }
    storage_.push_back(std::move(p));
    return storage_.back().get();
  };
  if (type == WeightType::BF16) {
    auto p = std::make_unique<std::uint8_t[]>(bytes);
    auto* h = reinterpret_cast<std::uint16_t*>(p.get());
    for (std::size_t i = 0; i < bytes / 2; ++i)
      h[i] = f32_to_bf16(static_cast<float>(static_cast<std::int64_t>(splitmix(seed_) % 2001) - 1000) * 2e-5f);
    storage_.push_back(std::move(p));
    m.data = storage_.back().get();
    return m;
  }
  if (is_ggml_block(type)) {
    // Random codes; every block's float16 scale(s) set so weights stay within a few hundredths.
    std::uint8_t* p = fill_random(bytes);
    m.data = p;
    const std::size_t block = weight_block_bytes(type);
    // Largest code magnitude: IQ2_S 15.5·0.25·43, IQ4_NL / Q8_0 127, K-quants 63·63.
    const float largest = type == WeightType::IQ2_S ? 167.0f : type == WeightType::Q4_K || type == WeightType::Q6_K ? 3969.0f : 127.0f;
    const std::uint16_t d = f32_to_f16(0.02f / largest);
    const std::size_t d_offset = type == WeightType::Q6_K ? 208 : 0;
    for (std::size_t at = 0; at < bytes; at += block) std::memcpy(p + at + d_offset, &d, 2);
    if (type == WeightType::Q4_K)
      for (std::size_t at = 0; at < bytes; at += block) std::memcpy(p + at + 2, &d, 2);
    return m;
  }
  // Affine: random codes; scales/biases that keep weights within ±0.02 so activations stay finite.
  m.data = fill_random(bytes);
  m.group_size = 64;
  m.aux_type = WeightType::BF16;
  const int bits = affine_bits(type);
  const std::size_t groups = static_cast<std::size_t>(rows * (cols / 64));
  auto scales = std::make_unique<std::uint8_t[]>(groups * 2), biases = std::make_unique<std::uint8_t[]>(groups * 2);
  const std::uint16_t s = f32_to_bf16(0.04f / static_cast<float>((1 << bits) - 1)), b = f32_to_bf16(-0.02f);
  for (std::size_t g = 0; g < groups; ++g) {
    std::memcpy(scales.get() + 2 * g, &s, 2);
    std::memcpy(biases.get() + 2 * g, &b, 2);
  }
  m.scales = scales.get();
  m.biases = biases.get();
  storage_.push_back(std::move(scales));
  storage_.push_back(std::move(biases));
  return m;
}

SyntheticGlm52::SyntheticGlm52(std::int64_t layers, std::int64_t vocab, SyntheticRecipe recipe,
                               const SyntheticGlm52* share) {
  GlmConfig& c = weights_.config;
  c.vocab_size = vocab;
  c.hidden_size = 6144;
  c.num_hidden_layers = layers;
  c.moe_intermediate_size = 2048;
  c.n_routed_experts = 256;
  c.num_experts_per_tok = 8;
  c.n_shared_experts = 1;
  c.routed_scaling_factor = 2.5;
  c.num_attention_heads = 64;
  c.q_lora_rank = 2048;
  c.kv_lora_rank = 512;
  c.qk_nope_head_dim = 192;
  c.qk_rope_head_dim = 64;
  c.v_head_dim = 256;
  c.rms_norm_eps = 1e-5;
  c.max_position_embeddings = 1 << 20;
  c.rope.theta = 8e6;
  c.index_n_heads = 32;
  c.index_head_dim = 128;
  c.index_topk = 2048;
  for (std::int64_t l = 0; l < layers; ++l) {
    c.layer_is_dense.push_back(false);
    c.layer_runs_indexer.push_back(l % 3 == 0);
  }
  const std::int64_t H = c.hidden_size, heads = c.num_attention_heads, R = c.kv_lora_rank;
  const WeightType A4 = recipe.rest, A3 = recipe.experts;
  weights_.embed = matrix(WeightType::BF16, vocab, H);
  weights_.lm_head = matrix(A4, vocab, H);
  weights_.final_norm.assign(static_cast<std::size_t>(H), 1.0f);
  for (std::int64_t l = 0; l < layers; ++l) {
    LayerWeights L;
    L.attn_norm.assign(static_cast<std::size_t>(H), 1.0f);
    L.ffn_norm.assign(static_cast<std::size_t>(H), 1.0f);
    AttentionWeights& A = L.attn;
    A.q_a = matrix(A4, c.q_lora_rank, H);
    A.q_a_norm.assign(static_cast<std::size_t>(c.q_lora_rank), 1.0f);
    A.q_b = matrix(A4, heads * c.qk_head_dim(), c.q_lora_rank);
    A.kv_a = matrix(A4, R + c.qk_rope_head_dim, H);
    A.kv_a_norm.assign(static_cast<std::size_t>(R), 1.0f);
    A.k_absorb = matrix(A4, heads * R, c.qk_nope_head_dim);
    A.v_expand = matrix(A4, heads * c.v_head_dim, R);
    A.o = matrix(A4, H, heads * c.v_head_dim);
    if (c.layer_runs_indexer[static_cast<std::size_t>(l)]) {
      IndexerWeights I;
      I.wq_b = matrix(A4, c.index_n_heads * c.index_head_dim, c.q_lora_rank);
      I.wk = matrix(A4, c.index_head_dim, H);
      I.k_norm_weight.assign(static_cast<std::size_t>(c.index_head_dim), 1.0f);
      I.k_norm_bias.assign(static_cast<std::size_t>(c.index_head_dim), 0.0f);
      I.weights_proj = matrix(WeightType::BF16, c.index_n_heads, H);
      A.indexer = std::move(I);
    }
    MoeWeights M;
    M.router = matrix(WeightType::BF16, c.n_routed_experts, H);
    M.correction_bias.assign(static_cast<std::size_t>(c.n_routed_experts), 0.0f);
    if (share) {
      M.experts = share->weights_.layers[0].moe->experts;
    } else if (l > 0) {
      M.experts = weights_.layers[0].moe->experts;
    } else {
      for (std::int64_t e = 0; e < c.n_routed_experts; ++e)
        M.experts.push_back({matrix(A3, c.moe_intermediate_size, H), matrix(A3, c.moe_intermediate_size, H),
                             matrix(A3, H, c.moe_intermediate_size)});
    }
    M.shared = SwigluWeights{matrix(A4, c.moe_intermediate_size, H), matrix(A4, c.moe_intermediate_size, H),
                             matrix(A4, H, c.moe_intermediate_size)};
    L.moe = std::move(M);
    weights_.layers.push_back(std::move(L));
  }
}

std::size_t SyntheticGlm52::decode_weight_bytes(std::int64_t layer) const {
  const LayerWeights& L = weights_.layers[static_cast<std::size_t>(layer)];
  const AttentionWeights& A = L.attn;
  std::size_t n = A.q_a.bytes() + A.q_b.bytes() + A.kv_a.bytes() + A.k_absorb.bytes() + A.v_expand.bytes() + A.o.bytes();
  if (A.indexer) n += A.indexer->wq_b.bytes() + A.indexer->wk.bytes() + A.indexer->weights_proj.bytes();
  const MoeWeights& M = *L.moe;
  n += M.router.bytes() + M.shared->gate.bytes() + M.shared->up.bytes() + M.shared->down.bytes();
  const SwigluWeights& e = M.experts[0];
  n += static_cast<std::size_t>(weights_.config.num_experts_per_tok) * (e.gate.bytes() + e.up.bytes() + e.down.bytes());
  return n;
}

}  // namespace glmq::bench
