// Recipes, and MLX-layout builds made by `write_mlx_checkpoint`: they load back into the same Weights and
// their logits stay close to the unquantized model's.
#include <gtest/gtest.h>

#include <filesystem>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "core/progress.h"
#include "fixture_util.h"
#include "model/mlx_writer.h"
#include "model/weights.h"
#include "quant/mlx_affine.h"
#include "runtime/session.h"

namespace glmq {
namespace {

namespace fs = std::filesystem;

TEST(Recipe, FirstMatchingRuleWinsAndPatternsMatchDottedSuffixes) {
  Recipe r = Recipe::parse("# comment\nmlp.gate = bf16\nmlp.experts.* = affine3 g64\nself_attn.* = affine4 g32\n", "rules");
  EXPECT_EQ(r.target_for("model.layers.3.mlp.gate").to_string(), "BF16");
  EXPECT_EQ(r.target_for("model.layers.3.mlp.gate_proj").to_string(), "keep");
  EXPECT_EQ(r.target_for("model.layers.3.mlp.experts.7.down_proj").to_string(), "affine3 g64");
  EXPECT_EQ(r.target_for("model.layers.0.self_attn.q_a_proj").to_string(), "affine4 g32");
  EXPECT_EQ(r.target_for("lm_head").to_string(), "keep");
}

TEST(Recipe, PresetsFollowTheirDefinitions) {
  Recipe m = Recipe::preset("mixed-3.5", 78);
  EXPECT_EQ(m.target_for("model.layers.5.mlp.experts.0.up_proj").to_string(), "affine3 g64");
  EXPECT_EQ(m.target_for("model.layers.5.mlp.shared_experts.up_proj").to_string(), "affine4 g64");
  EXPECT_EQ(m.target_for("model.layers.5.self_attn.indexer.wq_b").to_string(), "F16");
  EXPECT_EQ(m.target_for("model.layers.5.mlp.gate").to_string(), "BF16");
  EXPECT_EQ(m.target_for("model.embed_tokens").to_string(), "affine6 g64");
  EXPECT_EQ(m.target_for("lm_head").to_string(), "affine6 g64");
  // mlx-lm's mixed_3_6 on 78 layers: layers 0-8, 11, 14, ..., 65, 68-77 get 6-bit down/v projections.
  Recipe x = Recipe::preset("mixed_3_6", 78);
  EXPECT_EQ(x.target_for("model.layers.8.mlp.down_proj").to_string(), "affine6 g64");
  EXPECT_EQ(x.target_for("model.layers.9.mlp.down_proj").to_string(), "affine3 g64");
  EXPECT_EQ(x.target_for("model.layers.11.mlp.switch_mlp.down_proj").to_string(), "affine6 g64");
  EXPECT_EQ(x.target_for("model.layers.11.self_attn.kv_a_proj_with_mqa").to_string(), "affine6 g64");
  EXPECT_EQ(x.target_for("model.layers.12.self_attn.kv_a_proj_with_mqa").to_string(), "affine3 g64");
  EXPECT_EQ(x.target_for("model.layers.70.mlp.down_proj").to_string(), "affine6 g64");
  EXPECT_EQ(x.target_for("lm_head").to_string(), "affine6 g64");
  EXPECT_EQ(x.target_for("model.layers.3.mlp.gate").to_string(), "keep");
}

TEST(Recipe, BadRulesAreConfigErrors) {
  EXPECT_THROW(Recipe::parse("mlp.* affine4\n", "r"), Error);
  EXPECT_THROW(Recipe::parse("mlp.* = affine7\n", "r"), Error);
  EXPECT_THROW(Recipe::parse("mlp.* = affine4 g48\n", "r"), Error);
  EXPECT_THROW(Recipe::parse("mlp.* = int4\n", "r"), Error);
  EXPECT_THROW(Recipe::parse("# nothing\n", "r"), Error);
  EXPECT_THROW(Recipe::preset("uniform-7", 4), Error);
}

class QuantizedBuild : public ::testing::TestWithParam<std::tuple<std::string, std::string, bool>> {
 protected:
  void SetUp() override {
    set_quiet(true);
    out_ = fs::temp_directory_path() / ("glmq_quant_" + std::to_string(::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count()) +
                                        std::get<0>(GetParam()) + std::get<1>(GetParam()));
    fs::remove_all(out_);
  }
  void TearDown() override { fs::remove_all(out_); }
  fs::path out_;
};

// A build loads back and the reference path's fused dequantize+dot loops compute what the same model computes with
// every affine matrix dequantized to float32, end to end. The int8 kernels (CpuKernels::Fast) round the activations,
// which on these tiny random fixtures moves the logits about as far as the weights' own 8-bit rounding (fused vs
// dequantized 8.7 for tiny-a uniform-8, quantized vs HF 8.2): they are compared with this path by
// test_cpu_kernels (per product, within the rounding bound) and test_cpu_model_kernels (glm-small, KL).
TEST_P(QuantizedBuild, FusedKernelsMatchDequantizedReference) {
  const auto& [fixture, recipe, expect_quantized] = GetParam();
  const std::string dir = test::fixture_dir(fixture);
  GlmConfig c = GlmConfig::from_hf_dir(dir);
  MlxWriteOptions opts;
  opts.max_shard_bytes = 200'000;  // force several shards and an index
  QuantizeSummary s = write_mlx_checkpoint(dir, out_.string(), Recipe::preset(recipe, c.num_hidden_layers), opts);
  EXPECT_GT(s.shards, 1);
  EXPECT_TRUE(fs::exists(out_ / "model.safetensors.index.json"));
  auto model = Model::load_hf(out_.string());
  SafetensorsFile ref_file(dir + "/reference.safetensors");
  auto ids = test::read_ref(ref_file, "input_ids").i32;
  auto want = test::read_ref(ref_file, "logits").f32;
  CpuBackend backend(0, CpuKernels::Reference);
  Session session(model->weights, backend, static_cast<std::int64_t>(ids.size()));
  // Decode token by token: one-row products take the fused dequantize+dot loops.
  const std::size_t V = static_cast<std::size_t>(c.vocab_size);
  std::vector<float> got;
  auto first = session.prefill(std::span(ids).first(1));
  got.insert(got.end(), first.begin(), first.end());
  for (std::size_t t = 1; t < ids.size(); ++t) {
    auto l = session.decode(ids[t]);
    got.insert(got.end(), l.begin(), l.begin() + static_cast<std::ptrdiff_t>(V));
  }

  Weights plain = model->weights;
  std::vector<std::vector<float>> storage;
  int affine_count = 0;
  plain.for_each_matrix([&](const std::string&, WeightMatrix& m) {
    if (!is_affine(m.type)) return;
    ++affine_count;
    storage.emplace_back(static_cast<std::size_t>(m.rows * m.cols));
    for (std::int64_t r = 0; r < m.rows; ++r) dequantize_affine_row(m, r, storage.back().data() + r * m.cols);
    m = WeightMatrix{WeightType::F32, m.rows, m.cols, reinterpret_cast<const std::uint8_t*>(storage.back().data())};
  });
  Session plain_session(plain, backend, static_cast<std::int64_t>(ids.size()));
  auto ref = plain_session.prefill(ids, true);
  const double std = test::stddev(want);
  const double kernel_err = test::max_abs_diff(got.data(), ref.data(), want.size());
  const double quant_err = test::max_abs_diff(got.data(), want.data(), want.size());
  std::printf("[%s %s] %d affine matrices, %.3f bits/weight; fused vs dequantized %.2g; vs unquantized HF %.3f (%.2f std)\n",
              fixture.c_str(), recipe.c_str(), affine_count, s.bits_per_weight(), kernel_err, quant_err, quant_err / std);
  EXPECT_LE(kernel_err, 1e-3 * std);
  if (expect_quantized) {
    EXPECT_GT(affine_count, 0);
  } else {
    EXPECT_EQ(affine_count, 0);
    EXPECT_LE(quant_err, 1e-3 * std);  // nothing was quantized: the build is the model itself
  }
}

INSTANTIATE_TEST_SUITE_P(Recipes, QuantizedBuild,
                         // The fixtures' random weights are chaotic (std 0.19), so even 8-bit moves their logits a lot;
                         // quantization quality is measured on the trained models (bench/quality.md), not here.
                         ::testing::Values(std::make_tuple("tiny-a", "uniform-8", true),
                                           std::make_tuple("tiny-b", "uniform-4", true),
                                           std::make_tuple("tiny-a", "mixed-3.5", true),
                                           // tiny-c's rows (80) split into no group size: everything stays exact.
                                           std::make_tuple("tiny-c", "mixed_3_6", false)),
                         [](const auto& param_info) {
                           std::string n = std::get<0>(param_info.param) + "_" + std::get<1>(param_info.param);
                           for (auto& ch : n)
                             if (ch == '-' || ch == '.') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace glmq
