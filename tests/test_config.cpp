// GlmConfig parsing: layer schedules, rope/yarn, and clear errors for bad or unsupported values.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/json_file.h"
#include "fixture_util.h"
#include "model/config.h"

namespace glmq {
namespace {

Json tiny_a_json() { return read_json_file(test::fixture_dir("tiny-a") + "/config.json"); }

ErrorKind config_error(const Json& j) {
  try {
    GlmConfig::from_hf_json(j, "config.json");
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "expected a config error";
  return ErrorKind::InvalidArgument;
}

TEST(GlmConfig, ReadsFixture) {
  GlmConfig c = GlmConfig::from_hf_json(tiny_a_json(), "tiny-a");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.qk_head_dim(), 48);
  EXPECT_EQ(c.layer_runs_indexer, (std::vector<bool>{true, true, false, true}));
  EXPECT_EQ(c.layer_is_dense, (std::vector<bool>{true, false, false, false}));
  EXPECT_DOUBLE_EQ(c.attention_scale(), 1.0 / std::sqrt(48.0));
  EXPECT_DOUBLE_EQ(c.routed_scaling_factor, 2.5);
}

TEST(GlmConfig, Glm52ScheduleFromRealConfig) {
  Json j = read_json_file(test::shared_dir() + "/docs/glm-5.2-config.json");
  GlmConfig c = GlmConfig::from_hf_json(j, "glm-5.2");
  EXPECT_EQ(c.num_hidden_layers, 78);
  EXPECT_EQ(c.num_full_indexer_layers(), 21);
  std::vector<int> full;
  for (int i = 0; i < 78; ++i)
    if (c.layer_runs_indexer[static_cast<std::size_t>(i)]) full.push_back(i);
  EXPECT_EQ(full[0], 0);
  EXPECT_EQ(full[1], 1);
  EXPECT_EQ(full[2], 2);
  EXPECT_EQ(full[3], 6);
  EXPECT_EQ(full.back(), 74);
  int dense = 0;
  for (bool d : c.layer_is_dense) dense += d;
  EXPECT_EQ(dense, 3);
  EXPECT_TRUE(c.indexer_rope_interleave);
}

TEST(GlmConfig, DerivesScheduleFromFrequencyAndOffset) {
  Json j = tiny_a_json();
  j.erase("indexer_types");
  j["num_hidden_layers"] = 12;
  j["mlp_layer_types"] = nullptr;
  j["first_k_dense_replace"] = 2;
  j["index_topk_freq"] = 4;
  j["index_skip_topk_offset"] = 3;
  GlmConfig c = GlmConfig::from_hf_json(j, "x");
  // full iff max(i - 2, 0) % 4 == 0 → 0, 1, 2, 6, 10
  std::vector<bool> want{true, true, true, false, false, false, true, false, false, false, true, false};
  EXPECT_EQ(c.layer_runs_indexer, want);
  EXPECT_EQ(c.layer_is_dense[1], true);
  EXPECT_EQ(c.layer_is_dense[2], false);
  j.erase("index_topk_freq");
  j.erase("index_skip_topk_offset");
  EXPECT_EQ(GlmConfig::from_hf_json(j, "x").num_full_indexer_layers(), 12);  // default: all full (GLM-5/5.1)
  j["index_topk_pattern"] = "FFSSFSSSFSSS";
  EXPECT_EQ(GlmConfig::from_hf_json(j, "x").num_full_indexer_layers(), 4);
}

TEST(GlmConfig, IndexerRopeAndNormKeysOfOtherBuilds) {
  Json j = tiny_a_json();
  j["indexer_rope_traditional"] = false;
  EXPECT_FALSE(GlmConfig::from_hf_json(j, "x").indexer_rope_interleave);
  j["indexer_rope_interleave"] = true;  // the explicit key wins
  EXPECT_TRUE(GlmConfig::from_hf_json(j, "x").indexer_rope_interleave);
  j["indexer_norm_eps"] = 1e-5;
  EXPECT_DOUBLE_EQ(GlmConfig::from_hf_json(j, "x").indexer_norm_eps, 1e-5);
}

TEST(GlmConfig, YarnScalesAttentionAndFrequencies) {
  Json j = tiny_a_json();
  j["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 10000.0}, {"factor", 40.0}, {"original_max_position_embeddings", 4096},
                          {"beta_fast", 32}, {"beta_slow", 1}, {"mscale", 1.0}, {"mscale_all_dim", 1.0}};
  GlmConfig c = GlmConfig::from_hf_json(j, "x");
  const double m = 0.1 * std::log(40.0) + 1.0;
  EXPECT_NEAR(c.attention_scale(), m * m / std::sqrt(48.0), 1e-12);
  EXPECT_NEAR(c.rope_attention_factor(), 1.0, 1e-12);  // mscale == mscale_all_dim
  auto inv = c.rope_inv_freq();
  // The highest frequency is kept (extrapolated), the lowest is divided by the factor.
  EXPECT_NEAR(inv.front(), 1.0, 1e-6);
  EXPECT_NEAR(inv.back(), std::pow(10000.0, -14.0 / 16.0) / 40.0, 1e-9);
}

TEST(GlmConfig, RejectsBadValuesWithTypedErrors) {
  Json j = tiny_a_json();
  j.erase("hidden_size");
  EXPECT_EQ(config_error(j), ErrorKind::Config);
  j = tiny_a_json();
  j["hidden_size"] = "big";
  EXPECT_EQ(config_error(j), ErrorKind::Config);
  j = tiny_a_json();
  j["model_type"] = "llama";
  EXPECT_EQ(config_error(j), ErrorKind::Config);
  j = tiny_a_json();
  j["indexer_types"] = {"shared", "full", "full", "full"};
  EXPECT_EQ(config_error(j), ErrorKind::Config);
  j = tiny_a_json();
  j["indexer_types"] = {"full", "sometimes", "full", "full"};
  EXPECT_EQ(config_error(j), ErrorKind::Config);
  j = tiny_a_json();
  j["rope_parameters"] = {{"rope_type", "longrope"}, {"rope_theta", 10000.0}};
  EXPECT_EQ(config_error(j), ErrorKind::Config);
  j = tiny_a_json();
  j["n_group"] = 3;  // 8 experts do not split into 3 groups
  EXPECT_EQ(config_error(j), ErrorKind::Config);
  j = tiny_a_json();
  j["q_lora_rank"] = nullptr;
  EXPECT_EQ(config_error(j), ErrorKind::Config);
  j = tiny_a_json();
  j["num_key_value_heads"] = 2;
  EXPECT_EQ(config_error(j), ErrorKind::Config);
  j = tiny_a_json();
  j["mlp_layer_types"] = {"dense", "sparse"};
  EXPECT_EQ(config_error(j), ErrorKind::Config);
  EXPECT_THROW(parse_json_text("{\"a\":", "config.json"), Error);
}

}  // namespace
}  // namespace glmq
