// glmq plan's arithmetic on the real GLM-5.2 configuration against the figures of the docs and the model card.
#include <gtest/gtest.h>

#include "core/json_file.h"
#include "fixture_util.h"
#include "model/memory_plan.h"

namespace glmq {
namespace {

double line_bytes(const std::vector<PlanLine>& lines, const std::string& item) {
  for (const auto& l : lines)
    if (l.item == item) return l.bytes;
  ADD_FAILURE() << "no plan line " << item;
  return 0;
}

TEST(MemoryPlan, Glm52Mixed35AtOneMillionTokens) {
  GlmConfig c = GlmConfig::from_hf_json(read_json_file(test::shared_dir() + "/docs/glm-5.2-config.json"), "glm-5.2");
  const Recipe recipe = Recipe::preset("mixed-3.5", c.num_hidden_layers);
  PlanRequest req{.context = 1048576, .kv = {.kv_bits = 8, .rope_bits = 8}};
  MemoryPlan q8 = plan_memory(c, recipe, req);
  // quant_formats.md: 3.54 bpw, 334 GB with the MTP layer (753.9B parameters).
  std::int64_t params = 0;
  for (const auto& l : q8.weights) params += l.params;
  EXPECT_NEAR(static_cast<double>(params) / 1e9, 753.3, 1.0);
  EXPECT_NEAR(q8.weight_bytes / 1e9, 334.0, 2.0);
  EXPECT_NEAR(8.0 * q8.weight_bytes / static_cast<double>(params), 3.54, 0.01);
  EXPECT_NEAR(line_bytes(q8.runtime, "latent cache") / 1e9, 50.05, 0.05);       // int8 g64 records: ~48 GB on the card
  EXPECT_NEAR(line_bytes(q8.runtime, "indexer key cache") / 1e9, 5.64, 0.01);    // 21 full layers only
  req.kv = {.kv_bits = 16};
  EXPECT_NEAR(line_bytes(plan_memory(c, recipe, req).runtime, "latent cache") / 1e9, 94.2, 0.1);  // ~95 GB at fp16
  // mlx-lm's mixed_3_6 is much larger: the "tight" build of the card's comparison.
  const MemoryPlan m36 = plan_memory(c, Recipe::preset("mixed_3_6", c.num_hidden_layers), req);
  EXPECT_GT(m36.weight_bytes, q8.weight_bytes * 1.1);
}

}  // namespace
}  // namespace glmq
