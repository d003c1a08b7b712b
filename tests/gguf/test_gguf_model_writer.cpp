// glmq quantize --format gguf on glm-mini: the plan (types, fallbacks, --strict, the imatrix requirement) and a
// split BF16 file whose layout reproduces the HF model exactly when glmq loads it back.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "formats/gguf_file.h"
#include "formats/gguf_split.h"
#include "model/gguf_model_writer.h"
#include "quant/ggml_error_feedback.h"
#include "runtime/loaded_model.h"
#include "runtime/session.h"

namespace glmq {
namespace {

namespace fs = std::filesystem;
const std::string kMini = std::string(GLMQ_SHARED_DIR) + "/models/glm-mini";

std::string out_dir() {
  const std::string d = std::string(GLMQ_BINARY_DIR) + "/gguf_model_writer_test";
  fs::create_directories(d);
  return d;
}

GgufQuantizeOptions experts_iq2s() {
  GgufQuantizeOptions o;
  o.default_type = WeightType::IQ4_NL;
  o.rules = Recipe::from_tensor_types({"ffn_(gate|up|down)_exps=iq2_s"});
  return o;
}

const GgufPlannedTensor& find(const GgufQuantizePlan& plan, const std::string& name) {
  for (const auto& t : plan.tensors)
    if (t.name == name) return t;
  ADD_FAILURE() << name << " not planned";
  return plan.tensors.front();
}

TEST(GgufModelWriter, PlanAppliesRulesKeepsF32AndReportsFallbacks) {
  const GgufQuantizePlan plan = plan_gguf_quantization(kMini, out_dir() + "/plan.gguf", experts_iq2s());
  // glm-mini's rows (hidden 384, expert width 128, qk_nope 64) are not whole 256-blocks: every IQ2_S expert tensor
  // falls back to IQ4_NL, and the report says which and why.
  const GgufPlannedTensor& up = find(plan, "blk.1.ffn_up_exps.weight");
  EXPECT_EQ(up.ne, (std::vector<std::int64_t>{384, 128, 16}));
  EXPECT_EQ(up.choice.requested, WeightType::IQ2_S);
  EXPECT_EQ(up.choice.type, WeightType::IQ4_NL);
  EXPECT_EQ(plan.fallbacks.size(), 15u);  // 5 MoE layers × 3 projections
  EXPECT_NE(plan.fallbacks.front().find("IQ2_S -> IQ4_NL (rows of"), std::string::npos) << plan.fallbacks.front();
  EXPECT_EQ(find(plan, "blk.1.ffn_gate_inp.weight").choice.type, WeightType::F32);
  EXPECT_EQ(find(plan, "blk.1.exp_probs_b.bias").choice.type, WeightType::F32);
  EXPECT_EQ(find(plan, "blk.0.attn_norm.weight").choice.type, WeightType::F32);
  EXPECT_EQ(find(plan, "blk.0.indexer.proj.weight").choice.type, WeightType::IQ4_NL);
  EXPECT_EQ(find(plan, "blk.0.attn_k_b.weight").ne, (std::vector<std::int64_t>{64, 128, 6}));
  EXPECT_EQ(find(plan, "blk.0.attn_v_b.weight").ne, (std::vector<std::int64_t>{128, 64, 6}));
  EXPECT_EQ(find(plan, "token_embd.weight").choice.type, WeightType::IQ4_NL);
  // The table adds up.
  std::int64_t params = 0;
  std::uint64_t bytes = 0;
  for (const auto& t : plan.by_type) {
    params += t.params;
    bytes += t.bytes;
  }
  EXPECT_EQ(params, plan.total_params);
  EXPECT_EQ(bytes, plan.total_bytes);
  EXPECT_GT(plan.bits_per_weight(), 4.5);  // IQ4_NL plus the F32 norms and routers
  EXPECT_LT(plan.bits_per_weight(), 5.0);
  EXPECT_EQ(plan.files, std::vector<std::string>{out_dir() + "/plan.gguf"});
}

// A covariance entry for blk.0.attn_q_a (glm-mini: 384 input columns) with correlated columns.
InputCovariance q_a_covariance(std::int64_t cols) {
  InputCovariance c;
  CovarianceEntry& e = c.entries["blk.0.attn_q_a.weight"];
  e.cols = cols;
  e.counts = {100.0f};
  e.xtx.resize(static_cast<std::size_t>(cols * cols));
  for (std::int64_t i = 0; i < cols; ++i)
    for (std::int64_t j = 0; j < cols; ++j)
      e.xtx[static_cast<std::size_t>(i * cols + j)] = static_cast<float>(std::pow(0.8, std::abs(static_cast<double>(i - j))));
  return c;
}

// Writes glm-mini with `o` to `plain`, then with a covariance entry for blk.0.attn_q_a added to `with_covariance`;
// returns the second file's plan.
GgufQuantizePlan write_plain_and_with_q_a_covariance(GgufQuantizeOptions o, const std::string& plain,
                                                     const std::string& with_covariance) {
  write_glm_dsa_gguf(kMini, plain, o);
  const InputCovariance cov = q_a_covariance(384);
  o.covariance = &cov;
  o.covariance_path = "cov.gguf";
  return write_glm_dsa_gguf(kMini, with_covariance, o);
}

TEST(GgufModelWriter, CovarianceChangesOnlyItsTensorsCodesAndRecordsTheRounding) {
  GgufQuantizeOptions o;
  o.default_type = WeightType::IQ4_NL;  // glm-mini's 384-wide rows are whole 32-blocks
  const std::string compatible = out_dir() + "/iq4nl-compatible.gguf", feedback = out_dir() + "/iq4nl-feedback.gguf";
  const GgufQuantizePlan plan = write_plain_and_with_q_a_covariance(o, compatible, feedback);
  EXPECT_TRUE(find(plan, "blk.0.attn_q_a.weight").error_feedback);
  EXPECT_FALSE(find(plan, "blk.0.attn_kv_a_mqa.weight").error_feedback);
  EXPECT_TRUE(find(plan, "token_embd.weight").error_feedback);  // through blk.0's weights, not the covariance file

  const GgufFile a(compatible), b(feedback);
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (std::size_t i = 0; i < a.tensors().size(); ++i) {
    const GgufTensor& ta = a.tensors()[i];
    const GgufTensor& tb = b.tensors()[i];
    ASSERT_EQ(ta.name, tb.name);
    ASSERT_EQ(ta.ggml_type, tb.ggml_type) << ta.name;
    ASSERT_EQ(ta.nbytes, tb.nbytes) << ta.name;
    const bool same = std::memcmp(ta.data, tb.data, ta.nbytes) == 0;
    EXPECT_EQ(same, ta.name != "blk.0.attn_q_a.weight" && ta.name != "token_embd.weight") << ta.name;
  }
  EXPECT_EQ(b.get("quantize.glmq.rounding").as_string("rounding"), "error-feedback");
  EXPECT_FALSE(a.find("quantize.glmq.rounding"));
  // The file loads and runs like the plain one, near it.
  CpuBackend backend(1);
  const std::vector<std::int32_t> tokens = {5, 17, 9, 33, 2};
  auto logits = [&](const std::string& path) {
    const LoadedModel m = load_model_bundle(path);
    Session s(m.weights(), backend, 16, KvCacheOptions{});
    const auto l = s.prefill(tokens);
    return std::vector<float>(l.begin(), l.end());
  };
  const std::vector<float> la = logits(compatible), lb = logits(feedback);
  double max_diff = 0, max_abs = 0;
  for (std::size_t i = 0; i < la.size(); ++i) {
    ASSERT_TRUE(std::isfinite(lb[i]));
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(la[i] - lb[i])));
    max_abs = std::max(max_abs, static_cast<double>(std::fabs(la[i])));
  }
  EXPECT_LT(max_diff, 0.1 * max_abs);
}

// token_embd has no input covariance; with one for the rest it gets error feedback through what its rows meet
// first, blk.0's projections of the normed residual: H = diag(g) (Σ Wᵀ W) diag(g). Its H-weighted error must fall
// against plain rounding (measured here from an F32 write of the same model).
TEST(GgufModelWriter, EmbeddingErrorFeedbackLowersTheFirstLayersOutputError) {
  GgufQuantizeOptions o;
  o.default_type = WeightType::Q4_K;  // glm-mini's 384-wide rows are not whole 256-blocks: token_embd falls back
  o.rules = Recipe::from_tensor_types({"token_embd=iq4_nl"});
  const std::string plain = out_dir() + "/embd-plain.gguf", with_cov = out_dir() + "/embd-covariance.gguf",
                    exact = out_dir() + "/embd-f32.gguf";
  const GgufQuantizePlan plan = write_plain_and_with_q_a_covariance(o, plain, with_cov);
  ASSERT_TRUE(find(plan, "token_embd.weight").error_feedback);
  GgufQuantizeOptions f32;
  f32.default_type = WeightType::F32;
  write_glm_dsa_gguf(kMini, exact, f32);
  const GgufFile a(plain), b(with_cov), x(exact);
  auto values = [&](const std::string& name) {
    const GgufTensor* t = x.find_tensor(name);
    EXPECT_TRUE(t) << name;
    std::vector<float> v(static_cast<std::size_t>(t->numel()));
    std::memcpy(v.data(), t->data, v.size() * sizeof(float));
    return v;
  };
  const std::int64_t hidden = 384;
  std::vector<float> h(static_cast<std::size_t>(hidden * hidden), 0.0f);
  const std::pair<const char*, std::vector<const char*>> readers[] = {
      {"attn_norm", {"attn_q_a", "attn_kv_a_mqa", "indexer.attn_k", "indexer.proj"}}, {"ffn_norm", {"ffn_gate", "ffn_up"}}};
  for (const auto& [norm, projections] : readers) {
    const std::vector<float> g = values("blk.0." + std::string(norm) + ".weight");
    for (const char* r : projections) {
      const std::vector<float> w = values("blk.0." + std::string(r) + ".weight");
      for (std::size_t row = 0; row < w.size() / hidden; ++row)
        for (std::int64_t i = 0; i < hidden; ++i)
          for (std::int64_t j = 0; j < hidden; ++j)
            h[static_cast<std::size_t>(i * hidden + j)] += w[row * hidden + i] * g[i] * w[row * hidden + j] * g[j];
    }
  }
  const std::vector<float> e = values("token_embd.weight");
  const std::int64_t rows = static_cast<std::int64_t>(e.size()) / hidden;
  const double e_plain = hessian_weighted_error(WeightType::IQ4_NL, e.data(), a.find_tensor("token_embd.weight")->data, rows, hidden, h.data());
  const double e_feedback = hessian_weighted_error(WeightType::IQ4_NL, e.data(), b.find_tensor("token_embd.weight")->data, rows, hidden, h.data());
  std::cout << "[embedding] blk.0 output error " << e_plain << " plain, " << e_feedback << " with feedback (" << e_feedback / e_plain << "x)\n";
  EXPECT_LT(e_feedback, 0.9 * e_plain);  // 0.0078 vs 0.0093 (0.84x)
}

TEST(GgufModelWriter, CovarianceLeavesQ8_0ToPlainRounding) {
  GgufQuantizeOptions o;
  o.default_type = WeightType::Q8_0;
  const std::string plain = out_dir() + "/q8_0-plain.gguf", with_cov = out_dir() + "/q8_0-covariance.gguf";
  const GgufQuantizePlan plan = write_plain_and_with_q_a_covariance(o, plain, with_cov);
  EXPECT_FALSE(find(plan, "blk.0.attn_q_a.weight").error_feedback);
  const GgufFile a(plain), b(with_cov);
  const GgufTensor* ta = a.find_tensor("blk.0.attn_q_a.weight");
  const GgufTensor* tb = b.find_tensor("blk.0.attn_q_a.weight");
  ASSERT_TRUE(ta && tb);
  ASSERT_EQ(ta->nbytes, tb->nbytes);
  EXPECT_EQ(std::memcmp(ta->data, tb->data, ta->nbytes), 0);
}

TEST(GgufModelWriter, CovarianceOfTheWrongShapeIsRefused) {
  GgufQuantizeOptions o;
  o.default_type = WeightType::IQ4_NL;
  const InputCovariance cov = q_a_covariance(256);
  o.covariance = &cov;
  o.covariance_path = "cov.gguf";
  try {
    plan_gguf_quantization(kMini, out_dir() + "/bad-cov.gguf", o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Shape);
    EXPECT_NE(std::string(e.what()).find("covariance entry 'blk.0.attn_q_a.weight'"), std::string::npos) << e.what();
  }
}

TEST(GgufModelWriter, StrictRefusesFallbacks) {
  GgufQuantizeOptions o = experts_iq2s();
  o.strict = true;
  try {
    plan_gguf_quantization(kMini, out_dir() + "/strict.gguf", o);
    FAIL() << "expected --strict to refuse";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    const std::string m = e.what();
    EXPECT_NE(m.find("--strict: 15 tensor(s) need a fallback type"), std::string::npos) << m;
    EXPECT_NE(m.find("blk.1.ffn_gate_exps.weight: IQ2_S -> IQ4_NL"), std::string::npos) << m;
  }
}

// Q4_K as the default type: glm-mini's rows of 64 (attn_k_b), 128 (attn_v_b, expert down) and 384 (hidden) are not
// whole 256-blocks, so those tensors take llama-quantize's Q5_0; --strict refuses the same plan.
TEST(GgufModelWriter, Q4KFallsBackToQ5_0AndStrictRefuses) {
  GgufQuantizeOptions o;
  o.default_type = WeightType::Q4_K;
  const GgufQuantizePlan plan = plan_gguf_quantization(kMini, out_dir() + "/q4_k.gguf", o);
  const GgufPlannedTensor& k_b = find(plan, "blk.0.attn_k_b.weight");
  EXPECT_EQ(k_b.choice.requested, WeightType::Q4_K);
  EXPECT_EQ(k_b.choice.type, WeightType::Q5_0);
  EXPECT_EQ(k_b.bytes, 64u / 32u * 22u * 128u * 6u);
  EXPECT_EQ(find(plan, "blk.1.ffn_down_exps.weight").choice.type, WeightType::Q5_0);
  bool reported = false;
  for (const std::string& f : plan.fallbacks) reported |= f.find("blk.0.attn_k_b.weight: Q4_K -> Q5_0") != std::string::npos;
  EXPECT_TRUE(reported);
  o.default_type = WeightType::Q5_K;
  EXPECT_EQ(find(plan_gguf_quantization(kMini, out_dir() + "/q5_k.gguf", o), "blk.0.attn_k_b.weight").choice.type, WeightType::Q5_1);
  o.strict = true;
  try {
    plan_gguf_quantization(kMini, out_dir() + "/q5_k.gguf", o);
    FAIL() << "expected --strict to refuse";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("--strict: 82 tensor(s) need a fallback type"), std::string::npos) << m;
    EXPECT_NE(m.find("token_embd.weight: Q5_K -> Q5_1 (rows of 384"), std::string::npos) << m;
  }
}

TEST(GgufModelWriter, IQuantWithoutImatrixIsRefused) {
  // The dense FFN's down projection has rows of 1024, so IQ2_S applies and needs an importance matrix.
  GgufQuantizeOptions o;
  o.rules = Recipe::from_tensor_types({"ffn_down=iq2_s"});
  try {
    plan_gguf_quantization(kMini, out_dir() + "/noimatrix.gguf", o);
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("need an importance matrix"), std::string::npos) << m;
    EXPECT_NE(m.find("blk.0.ffn_down.weight (IQ2_S)"), std::string::npos) << m;
    EXPECT_NE(m.find("--imatrix"), std::string::npos) << m;
  }
  // An imatrix without that tensor's entry is refused too, naming the file.
  ImportanceMatrix empty;
  o.imatrix = &empty;
  o.imatrix_path = "empty.imatrix.gguf";
  try {
    plan_gguf_quantization(kMini, out_dir() + "/noimatrix.gguf", o);
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty.imatrix.gguf has no entry for blk.0.ffn_down.weight"), std::string::npos) << e.what();
  }
}

TEST(GgufModelWriter, Iq2XxsWithoutWeightsIsRefusedEvenForTheOutputHead) {
  // tensor_requires_imatrix exempts output.weight, but ggml's IQ2_XXS quantizer has no unweighted form
  // (llama-quantize aborts in it): glmq refuses at planning instead. glm-mini's rows of 384 values make IQ2_XXS fall
  // back to IQ4_NL there, so glm-small (rows of 512) shows it.
  const std::string small = std::string(GLMQ_SHARED_DIR) + "/models/glm-small";
  GgufQuantizeOptions o;
  o.default_type = WeightType::Q8_0;
  o.rules = Recipe::from_tensor_types({"^output\\.weight$=iq2_xxs"});
  ImportanceMatrix empty;
  o.imatrix = &empty;
  o.imatrix_path = "empty.imatrix.gguf";
  try {
    plan_gguf_quantization(small, out_dir() + "/iq2xxs-output.gguf", o);
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty.imatrix.gguf has no entry for output.weight (IQ2_XXS)"), std::string::npos)
        << e.what();
  }
}

TEST(GgufModelWriter, SplitBf16GgufLoadsBackToTheHfModel) {
  // BF16 everywhere the converter would write BF16: the file only re-lays out glm-mini's bf16 weights, so glmq
  // must compute bit-identical logits from it.
  GgufQuantizeOptions o;
  o.default_type = WeightType::BF16;
  o.split_max_bytes = parse_gguf_split_size("10M");
  o.threads = 2;
  const std::string out = out_dir() + "/mini-bf16.gguf";
  const GgufQuantizePlan plan = write_glm_dsa_gguf(kMini, out, o);
  ASSERT_GE(plan.files.size(), 4u);
  const int n = static_cast<int>(plan.files.size());
  char suffix[40];
  std::snprintf(suffix, sizeof suffix, "/mini-bf16-00001-of-%05d.gguf", n);
  EXPECT_EQ(plan.files.front(), out_dir() + suffix);

  std::size_t tensors = 0;
  for (int s = 0; s < n; ++s) {
    const GgufFile f(plan.files[static_cast<std::size_t>(s)]);
    EXPECT_EQ(f.get("split.no").type(), GgufType::U16);
    EXPECT_EQ(f.get("split.no").as_int("split.no"), s);
    EXPECT_EQ(f.get("split.count").type(), GgufType::U16);
    EXPECT_EQ(f.get("split.count").as_int("split.count"), n);
    EXPECT_EQ(f.get("split.tensors.count").type(), GgufType::I32);
    EXPECT_EQ(f.get("split.tensors.count").as_int("split.tensors.count"), static_cast<std::int64_t>(plan.tensors.size()));
    if (s == 0) {
      EXPECT_TRUE(f.tensors().empty()) << "the first shard holds metadata only";
      EXPECT_TRUE(f.find("tokenizer.ggml.tokens") && f.find("glm-dsa.block_count") && f.find("tokenizer.chat_template"));
    } else {
      EXPECT_EQ(f.metadata().size(), 3u) << "later shards carry only the split keys";
      std::uint64_t bytes = 0;
      for (const auto& t : f.tensors()) bytes += (t.nbytes + 31) / 32 * 32;
      EXPECT_TRUE(bytes <= o.split_max_bytes || f.tensors().size() == 1) << plan.files[static_cast<std::size_t>(s)];
    }
    tensors += f.tensors().size();
  }
  EXPECT_EQ(tensors, plan.tensors.size());

  const LoadedModel hf = load_model_bundle(kMini), gg = load_model_bundle(plan.files.front());
  std::ifstream in(std::string(GLMQ_SHARED_DIR) + "/data/corpus/python-code-test.txt", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str().substr(0, 3000) + "<|user|>hi<|assistant|>";
  const auto ids = hf.require_tokenizer().encode(text, false);
  EXPECT_EQ(gg.require_tokenizer().encode(text, false), ids);
  EXPECT_EQ(gg.stop_ids, hf.stop_ids);
  const std::vector<std::int32_t> tokens(ids.begin(), ids.begin() + 64);
  CpuBackend backend(2);
  Session a(hf.weights(), backend, 64), b(gg.weights(), backend, 64);
  const auto la = a.prefill(tokens, true);
  const std::vector<float> first(la.begin(), la.end());
  const auto lb = b.prefill(tokens, true);
  ASSERT_EQ(first.size(), lb.size());
  float worst = 0;
  for (std::size_t i = 0; i < first.size(); ++i) worst = std::max(worst, std::fabs(first[i] - lb[i]));
  EXPECT_EQ(worst, 0.0f);
  for (const auto& f : plan.files) fs::remove(f);
}

}  // namespace
}  // namespace glmq
