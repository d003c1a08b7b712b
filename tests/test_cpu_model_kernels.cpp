// End to end: glm-small with its matrices quantized in memory (glmq's own GGML and MLX affine quantizers, several
// recipes) and the bundled glm-mini-8bit MLX build, the fast CPU kernels against the reference path — prefill logits
// at every position and greedy decode steps.
//
// Tolerances. The fast path rounds every matrix product's activations to int8 blocks (as llama.cpp's CPU backend
// does), about as coarse as Q8_0's rounding of the weights: on 200 tokens of WikiText-2 the Q8_0 recipe gives mean
// KL(reference ‖ fast) ≈ 4.6e-3 nats and the same top-1 token at ~94 % of positions, while rounding the bf16 weights
// to Q8_0 (both on the reference path) costs KL ≈ 3.5e-3 itself. Allowed: mean KL ≤ 2e-2 and top-1 agreement
// ≥ 85 %; a kernel bug (a wrong scale, order or sign) shows as KL ≫ 0.1. The MLX affine recipes measure 9.9e-3 / 97.7 %
// (3/4/6-bit, like the Q2_K/Q3_K/Q5_K mix's 1.0e-2), 3.3e-3 / 98.1 % (2/5/8-bit) and glm-mini-8bit 7.8e-3 / 95.4 %,
// within the same limits. BF16 weights take the float kernels:
// KL ≤ 1e-6 (float32 summation order only). Under CpuKernels::FastBf16 their activations are rounded to bf16 (error
// ≤ 2⁻⁸ of each value, where int8 blocks allow 1/254 of the block's largest): measured mean KL 9.4e-4, same top-1 at
// 98.6 % of positions; allowed 5e-3 and 95 %.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/row_kernels.h"
#include "core/progress.h"
#include "model/weights.h"
#include "quant/ggml_quantize.h"
#include "quant/mlx_affine.h"
#include "runtime/loaded_model.h"
#include "runtime/session.h"

namespace glmq {
namespace {

const std::string kModelDir = std::string(GLMQ_SHARED_DIR) + "/models/glm-small";

// The type a recipe gives a matrix (by role and width), or the matrix's own type to keep it.
using Recipe = std::function<WeightType(const std::string& role, const WeightMatrix& m)>;

// MLX affine types (glmq's quantize_affine, bf16 scales and biases) take groups of this many inputs where the row
// length allows (glmq quantize and mlx-lm use 64), else 32.
std::int64_t affine_group(const WeightMatrix& m, std::int64_t preferred) { return m.cols % preferred == 0 ? preferred : 32; }

// Replaces every matrix of `model` by its quantized copy (owned by `store`). False if a type cannot be quantized here.
bool quantize_model(Model& model, const Recipe& recipe, std::vector<std::vector<std::uint8_t>>& store,
                    std::int64_t affine_group_size = 64) {
  bool ok = true;
  model.weights.for_each_matrix([&](const std::string& role, WeightMatrix& m) {
    // The router and the indexer's head weights stay as stored (llama-quantize keeps them too).
    if (role.ends_with("router") || role.ends_with("weights_proj")) return;
    const WeightType type = recipe(role, m);
    if (type == m.type) return;
    if (!is_affine(type) && !ggml_can_quantize(type)) {
      ok = false;
      return;
    }
    std::vector<float> values(static_cast<std::size_t>(m.rows * m.cols));
    for (std::int64_t r = 0; r < m.rows; ++r) cpu::row_to_f32(m, r, values.data() + r * m.cols);
    if (is_affine(type)) {
      const std::int64_t group = affine_group(m, affine_group_size);
      AffineQuantized q = quantize_affine(values.data(), m.rows, m.cols, affine_bits(type), group, WeightType::BF16);
      store.push_back(std::move(q.codes));
      store.push_back(std::move(q.scales));
      store.push_back(std::move(q.biases));
      const auto n = store.size();
      m = WeightMatrix{type, m.rows, m.cols, store[n - 3].data(), store[n - 2].data(), store[n - 1].data(), WeightType::BF16, group};
      return;
    }
    store.emplace_back(weight_row_bytes(type, static_cast<std::size_t>(m.cols)) * static_cast<std::size_t>(m.rows));
    quantize_ggml(type, values.data(), store.back().data(), m.rows, m.cols);
    m = WeightMatrix{type, m.rows, m.cols, store.back().data()};
  });
  return ok;
}

struct Comparison {
  double mean_kl = 0;
  double top1_agreement = 0;
};

std::vector<double> log_softmax(const float* logits, std::int64_t n) {
  double mx = logits[0];
  for (std::int64_t i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += std::exp(logits[i] - mx);
  std::vector<double> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = logits[i] - mx - std::log(sum);
  return out;
}

// The first 200 tokens of WikiText-2's test text: past index_topk (64), so the DSA selection is exercised.
std::vector<std::int32_t> text_tokens(const LoadedModel& bundle) {
  std::ifstream in(std::string(GLMQ_SHARED_DIR) + "/data/wikitext-2-raw/wiki.test.raw", std::ios::binary);
  std::string text(6000, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  const auto ids = bundle.require_tokenizer().encode(text, false);
  return std::vector<std::int32_t>(ids.begin(), ids.begin() + 200);
}

// Prefill (all logits) and 16 greedy decode steps (the reference's choices fed to both sessions).
Comparison compare_fast_and_reference(const Weights& w, const std::vector<std::int32_t>& prompt,
                                      CpuKernels kernels = CpuKernels::Fast) {
  CpuBackend fast(2, kernels), ref(2, CpuKernels::Reference);
  const auto context = static_cast<std::int64_t>(prompt.size()) + 20;
  Session sf(w, fast, context), sr(w, ref, context);
  const std::int64_t vocab = w.config.vocab_size;
  std::vector<float> lr, lf;
  {
    auto a = sr.prefill(prompt, true);
    lr.assign(a.begin(), a.end());
    auto b = sf.prefill(prompt, true);
    lf.assign(b.begin(), b.end());
  }
  double kl = 0;
  std::int64_t agree = 0, positions = 0;
  auto add = [&](const float* r, const float* f) {
    const auto pr = log_softmax(r, vocab), pf = log_softmax(f, vocab);
    double k = 0;
    std::size_t ar = 0, af = 0;
    for (std::size_t i = 0; i < pr.size(); ++i) {
      k += std::exp(pr[i]) * (pr[i] - pf[i]);
      if (pr[i] > pr[ar]) ar = i;
      if (pf[i] > pf[af]) af = i;
    }
    kl += k;
    agree += ar == af;
    ++positions;
    return static_cast<std::int32_t>(ar);
  };
  std::int32_t next = 0;
  for (std::size_t t = 0; t < prompt.size(); ++t) next = add(lr.data() + t * vocab, lf.data() + t * vocab);
  for (int step = 0; step < 16; ++step) {
    auto r = sr.decode(next);
    std::vector<float> rv(r.begin(), r.end());
    auto f = sf.decode(next);
    next = add(rv.data(), f.data());
  }
  return {kl / static_cast<double>(positions), static_cast<double>(agree) / static_cast<double>(positions)};
}

void check_recipe(const Recipe& recipe, const std::string& name, std::int64_t affine_group_size = 64) {
  set_quiet(true);
  LoadedModel bundle = load_model_bundle(kModelDir);
  std::vector<std::vector<std::uint8_t>> store;
  if (!quantize_model(*bundle.model, recipe, store, affine_group_size)) GTEST_SKIP() << name << ": a type of this recipe has no quantizer in this build";
  const Comparison c = compare_fast_and_reference(bundle.weights(), text_tokens(bundle));
  EXPECT_LE(c.mean_kl, 2e-2) << name;
  EXPECT_GE(c.top1_agreement, 0.85) << name;
  std::printf("%s: mean KL %.2e, top-1 agreement %.3f\n", name.c_str(), c.mean_kl, c.top1_agreement);
}

bool is_routed_expert(const std::string& role) { return role.find(".experts.") != std::string::npos; }

TEST(CpuModelKernels, Q8_0) {
  check_recipe([](const std::string&, const WeightMatrix&) { return WeightType::Q8_0; }, "Q8_0");
}

TEST(CpuModelKernels, Iq4NlAndIq4Xs) {
  check_recipe([](const std::string& role, const WeightMatrix& m) {
    return m.cols % 256 == 0 && role.find("attn.") != std::string::npos ? WeightType::IQ4_XS : WeightType::IQ4_NL;
  }, "IQ4_NL + IQ4_XS attention");
}

// Like llama-quantize's Q4_K_M: Q4_K, Q6_K for the LM head and the down projections, Q8_0 where rows are too short.
TEST(CpuModelKernels, Q4KAndQ6K) {
  check_recipe([](const std::string& role, const WeightMatrix& m) {
    if (m.cols % 256 != 0) return WeightType::Q8_0;
    if (role == "lm_head" || role.ends_with(".down")) return WeightType::Q6_K;
    return WeightType::Q4_K;
  }, "Q4_K + Q6_K");
}

// The other K-quants, mixed like a low-bit llama-quantize file: routed experts Q2_K, the LM head and the down
// projections Q5_K, the rest Q3_K, Q8_0 where rows are too short.
TEST(CpuModelKernels, Q2KQ3KAndQ5K) {
  check_recipe([](const std::string& role, const WeightMatrix& m) {
    if (m.cols % 256 != 0) return WeightType::Q8_0;
    if (is_routed_expert(role)) return WeightType::Q2_K;
    if (role == "lm_head" || role.ends_with(".down")) return WeightType::Q5_K;
    return WeightType::Q3_K;
  }, "Q2_K experts + Q3_K + Q5_K");
}

// The seed recipe: routed experts IQ2_S, everything else IQ4_NL (shared/docs/quant_gguf.md §7.3).
TEST(CpuModelKernels, SeedRecipe) {
  check_recipe([](const std::string& role, const WeightMatrix&) {
    return is_routed_expert(role) ? WeightType::IQ2_S : WeightType::IQ4_NL;
  }, "seed (IQ2_S experts)");
}

// MLX affine, like GLM-5.2's "mixed-3.5" builds: routed experts 3-bit, the LM head 6-bit, the rest 4-bit, groups of 64.
TEST(CpuModelKernels, MlxMixed35) {
  check_recipe([](const std::string& role, const WeightMatrix&) {
    if (is_routed_expert(role)) return WeightType::Affine3;
    return role == "lm_head" ? WeightType::Affine6 : WeightType::Affine4;
  }, "MLX mixed-3.5 (affine 3/4/6, groups of 64)");
}

// The other MLX widths: routed experts 2-bit, the LM head 8-bit, the rest 5-bit, groups of 128 (32 where rows are
// shorter).
TEST(CpuModelKernels, MlxTwoFiveAndEightBit) {
  check_recipe([](const std::string& role, const WeightMatrix&) {
    if (is_routed_expert(role)) return WeightType::Affine2;
    return role == "lm_head" ? WeightType::Affine8 : WeightType::Affine5;
  }, "MLX affine 2/5/8, groups of 128", 128);
}

// The README's bundled model (models/glm-mini-8bit: MLX affine 8-bit, groups of 64) as stored on disk.
TEST(CpuModelKernels, GlmMini8BitAsStored) {
  set_quiet(true);
  LoadedModel bundle = load_model_bundle(std::string(GLMQ_SOURCE_DIR) + "/models/glm-mini-8bit");
  const Comparison c = compare_fast_and_reference(bundle.weights(), text_tokens(bundle));
  EXPECT_LE(c.mean_kl, 2e-2);
  EXPECT_GE(c.top1_agreement, 0.85);
  std::printf("glm-mini-8bit: mean KL %.2e, top-1 agreement %.3f\n", c.mean_kl, c.top1_agreement);
}

// BF16 as stored: the float kernels must stay within float32 rounding of the reference.
TEST(CpuModelKernels, Bf16) {
  set_quiet(true);
  LoadedModel bundle = load_model_bundle(kModelDir);
  const Comparison c = compare_fast_and_reference(bundle.weights(), text_tokens(bundle));
  EXPECT_LE(c.mean_kl, 1e-6);
  EXPECT_GE(c.top1_agreement, 0.99);
  std::printf("bf16: mean KL %.2e, top-1 agreement %.3f\n", c.mean_kl, c.top1_agreement);
}

// BF16 as stored, activations rounded to bf16 (CpuKernels::FastBf16).
TEST(CpuModelKernels, Bf16Activations) {
  set_quiet(true);
  LoadedModel bundle = load_model_bundle(kModelDir);
  const Comparison c = compare_fast_and_reference(bundle.weights(), text_tokens(bundle), CpuKernels::FastBf16);
  EXPECT_LE(c.mean_kl, 5e-3);
  EXPECT_GE(c.top1_agreement, 0.95);
  std::printf("bf16 activations: mean KL %.2e, top-1 agreement %.3f\n", c.mean_kl, c.top1_agreement);
}

}  // namespace
}  // namespace glmq
