// llama-quantize's per-tensor type decisions (quant_gguf.md §7.1) as glmq's GGUF writer takes them, and the
// --tensor-type rules of the shared recipe engine.
#include <gtest/gtest.h>

#include "core/error.h"
#include "quant/gguf_type_selection.h"

namespace glmq {
namespace {

const Recipe kExpertsIq2s = Recipe::from_tensor_types({"ffn_(gate|up|down)_exps=IQ2_S", ".*=iq4_nl"});

TEST(GgufTypeSelection, WhatLlamaQuantizeNeverQuantizes) {
  EXPECT_FALSE(gguf_tensor_allows_quantization("blk.0.attn_norm.weight", 1));
  EXPECT_FALSE(gguf_tensor_allows_quantization("blk.3.exp_probs_b.bias", 1));
  EXPECT_FALSE(gguf_tensor_allows_quantization("blk.3.ffn_gate_inp.weight", 2));  // the router
  EXPECT_FALSE(gguf_tensor_allows_quantization("blk.0.attn_kv_a_norm.weight", 2));
  EXPECT_FALSE(gguf_tensor_allows_quantization("blk.0.indexer.k_norm.bias", 1));
  // glm-dsa has no indexer exclusion: the converter's F32 indexer.proj gets quantized like any 2-D weight.
  EXPECT_TRUE(gguf_tensor_allows_quantization("blk.0.indexer.proj.weight", 2));
  EXPECT_TRUE(gguf_tensor_allows_quantization("blk.0.attn_k_b.weight", 3));
  EXPECT_TRUE(gguf_tensor_allows_quantization("token_embd.weight", 2));
}

TEST(GgufTypeSelection, FallbacksFollowTensorTypeFallback) {
  EXPECT_EQ(gguf_fallback_type(WeightType::IQ2_S, 512), WeightType::IQ2_S);
  EXPECT_EQ(gguf_fallback_type(WeightType::IQ2_S, 192), WeightType::IQ4_NL);  // GLM-5.2's attn_k_b rows
  EXPECT_EQ(gguf_fallback_type(WeightType::IQ4_XS, 64), WeightType::IQ4_NL);
  EXPECT_EQ(gguf_fallback_type(WeightType::Q2_K, 64), WeightType::Q4_0);
  EXPECT_EQ(gguf_fallback_type(WeightType::Q3_K, 64), WeightType::Q4_0);
  EXPECT_EQ(gguf_fallback_type(WeightType::Q4_K, 64), WeightType::Q5_0);
  EXPECT_EQ(gguf_fallback_type(WeightType::Q5_K, 64), WeightType::Q5_1);
  EXPECT_EQ(gguf_fallback_type(WeightType::Q6_K, 96), WeightType::Q8_0);
  EXPECT_EQ(gguf_fallback_type(WeightType::IQ2_S, 48), WeightType::F16);  // not even IQ4_NL's 32 divides 48
  EXPECT_EQ(gguf_fallback_type(WeightType::Q4_K, 48), WeightType::F16);
  EXPECT_EQ(gguf_fallback_type(WeightType::IQ4_NL, 48), WeightType::F16);
  EXPECT_EQ(gguf_fallback_type(WeightType::Q5_0, 48), WeightType::F16);
  EXPECT_EQ(gguf_fallback_type(WeightType::Q8_0, 96), WeightType::Q8_0);
  EXPECT_EQ(gguf_fallback_type(WeightType::BF16, 7), WeightType::BF16);
}

TEST(GgufTypeSelection, FirstMatchingRuleThenDefaultThenFallback) {
  auto choose = [](const std::string& name, std::vector<std::int64_t> ne, WeightType converted = WeightType::BF16) {
    return choose_gguf_type(name, ne, converted, WeightType::Q8_0, kExpertsIq2s);
  };
  const GgufTypeChoice exps = choose("blk.3.ffn_down_exps.weight", {2048, 6144, 256});
  EXPECT_EQ(exps.type, WeightType::IQ2_S);
  EXPECT_FALSE(exps.fell_back);
  EXPECT_EQ(exps.rule, "ffn_(gate|up|down)_exps");
  const GgufTypeChoice shexp = choose("blk.3.ffn_down_shexp.weight", {2048, 6144});
  EXPECT_EQ(shexp.type, WeightType::IQ4_NL);  // the catch-all rule beats the default Q8_0
  EXPECT_EQ(shexp.rule, ".*");
  const GgufTypeChoice router = choose("blk.3.ffn_gate_inp.weight", {6144, 256}, WeightType::F32);
  EXPECT_FALSE(router.quantizable);
  EXPECT_EQ(router.type, WeightType::F32);
  const GgufTypeChoice norm = choose("blk.3.attn_norm.weight", {6144}, WeightType::F32);
  EXPECT_EQ(norm.type, WeightType::F32);
  // No rule: the default type.
  const GgufTypeChoice plain = choose_gguf_type("blk.0.attn_q_a.weight", {6144, 2048}, WeightType::BF16, WeightType::Q6_K, Recipe{});
  EXPECT_EQ(plain.type, WeightType::Q6_K);
  EXPECT_EQ(plain.rule, "");
  // attn_k_b's rows of 64 are not whole 256-blocks: IQ2_S falls back to IQ4_NL and says so.
  const GgufTypeChoice k_b =
      choose_gguf_type("blk.1.attn_k_b.weight", {64, 256, 8}, WeightType::BF16, WeightType::IQ2_S, Recipe{});
  EXPECT_EQ(k_b.requested, WeightType::IQ2_S);
  EXPECT_EQ(k_b.type, WeightType::IQ4_NL);
  EXPECT_TRUE(k_b.fell_back);
}

// llama-quantize's Q4_K_M leaves attn_k_b (rows of 64 in glm-small) to tensor_type_fallback: Q5_0, which glmq now
// writes too; Q5_K and Q3_K likewise demote to Q5_1 and Q4_0.
TEST(GgufTypeSelection, LegacyFallbacksAreAppliedLikeLlamaQuantize) {
  const std::vector<std::int64_t> k_b_shape = {64, 256, 8};
  for (auto [requested, want] : {std::pair{WeightType::Q4_K, WeightType::Q5_0}, std::pair{WeightType::Q5_K, WeightType::Q5_1},
                                 std::pair{WeightType::Q3_K, WeightType::Q4_0}, std::pair{WeightType::Q2_K, WeightType::Q4_0}}) {
    const GgufTypeChoice c = choose_gguf_type("blk.1.attn_k_b.weight", k_b_shape, WeightType::BF16, requested, Recipe{});
    EXPECT_EQ(c.requested, requested);
    EXPECT_EQ(c.type, want) << weight_type_name(requested);
    EXPECT_TRUE(c.fell_back);
  }
  // An explicit q5_0 rule is a type like any other, not a fallback.
  const GgufTypeChoice ruled = choose_gguf_type("blk.1.attn_k_b.weight", k_b_shape, WeightType::BF16, WeightType::Q4_K,
                                                Recipe::from_tensor_types({"attn_k_b=q5_0"}));
  EXPECT_EQ(ruled.type, WeightType::Q5_0);
  EXPECT_FALSE(ruled.fell_back);
}

TEST(GgufTypeSelection, ImatrixRequirement) {
  EXPECT_TRUE(gguf_type_requires_imatrix("blk.3.ffn_up_exps.weight", WeightType::IQ2_S));
  EXPECT_TRUE(gguf_type_requires_imatrix("blk.3.ffn_up_exps.weight", WeightType::IQ2_XXS));
  EXPECT_FALSE(gguf_type_requires_imatrix("token_embd.weight", WeightType::IQ2_S));
  EXPECT_FALSE(gguf_type_requires_imatrix("output.weight", WeightType::IQ2_S));
  EXPECT_FALSE(gguf_type_requires_imatrix("blk.3.ffn_up_exps.weight", WeightType::IQ4_NL));
  EXPECT_FALSE(gguf_type_requires_imatrix("blk.3.ffn_up_exps.weight", WeightType::Q4_K));
}

TEST(GgufTypeSelection, TensorTypeRulesParse) {
  const Recipe r = Recipe::from_tensor_types({"ATTN_K_B=Q8_0", "indexer\\.proj=f32"});
  ASSERT_EQ(r.rules().size(), 2u);
  EXPECT_EQ(r.rules()[0].pattern, "attn_k_b");  // lower-cased, as llama-quantize does
  EXPECT_EQ(r.target_for("blk.7.attn_k_b.weight").type, WeightType::Q8_0);
  EXPECT_EQ(r.target_for("blk.7.indexer.proj.weight").kind, QuantTarget::Kind::Float);
  EXPECT_EQ(r.target_for("blk.7.indexer.proj.weight").type, WeightType::F32);
  EXPECT_EQ(r.target_for("blk.7.attn_v_b.weight").kind, QuantTarget::Kind::Keep);
  EXPECT_EQ(parse_quant_target("iq2_s", "x").kind, QuantTarget::Kind::Ggml);
  for (const char* bad : {"noequals", "=q8_0", "ffn(=q8_0", "ffn=q9_9", "ffn=affine4"}) {
    try {
      Recipe::from_tensor_types({bad});
      FAIL() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace glmq
