// glm-small from llama.cpp's bf16 GGUF against the same model from its HF folder: the converter only re-lays out
// the bf16 weights (kv_b → attn_k_b/attn_v_b, router and indexer proj widened to F32), so glmq must compute the same
// logits bit for bit, and load_model_bundle must give the same tokenizer, chat template and stop ids.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "backend/cpu/cpu_backend.h"
#include "gguf/llama_converted.h"
#include "runtime/loaded_model.h"
#include "runtime/session.h"

namespace glmq {
namespace {

const std::string kModelDir = std::string(GLMQ_SHARED_DIR) + "/models/glm-small";

std::string converted_bf16() {
  const std::string path = test::llama_converted(GLMQ_LLAMA_CPP_DIR, "bf16");
  if (path.empty()) ADD_FAILURE() << "llama.cpp's converter failed; see " << test::kLlamaConvertedDir;
  return path;
}

std::string corpus_head(std::size_t bytes) {
  std::ifstream in(std::string(GLMQ_SHARED_DIR) + "/data/corpus/python-code-test.txt", std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str().substr(0, bytes);
}

TEST(GgufModelInterop, Bf16GgufLogitsEqualHf) {
  GLMQ_SKIP_WITHOUT_LLAMA_CPP();
  const std::string gguf = converted_bf16();
  ASSERT_FALSE(gguf.empty());
  const LoadedModel hf = load_model_bundle(kModelDir), gg = load_model_bundle(gguf);
  // Past index_topk (64) tokens, so the DSA top-k selection and the shared-indexer layers are exercised.
  const auto ids = hf.require_tokenizer().encode(corpus_head(1200), false);
  ASSERT_GT(ids.size(), 200u);
  const std::vector<std::int32_t> tokens(ids.begin(), ids.begin() + 200);
  CpuBackend backend(2);
  Session a(hf.weights(), backend, 200), b(gg.weights(), backend, 200);
  const auto la = a.prefill(tokens, true);
  const std::vector<float> first(la.begin(), la.end());
  const auto lb = b.prefill(tokens, true);
  ASSERT_EQ(first.size(), lb.size());
  float worst = 0;
  for (std::size_t i = 0; i < first.size(); ++i) worst = std::max(worst, std::fabs(first[i] - lb[i]));
  EXPECT_EQ(worst, 0.0f) << "GGUF and HF loads of the same bf16 weights disagree";
}

TEST(GgufModelInterop, BundleFromGgufHasTokenizerTemplateAndStopIds) {
  GLMQ_SKIP_WITHOUT_LLAMA_CPP();
  const std::string gguf = converted_bf16();
  ASSERT_FALSE(gguf.empty());
  const LoadedModel hf = load_model_bundle(kModelDir), gg = load_model_bundle(gguf);
  ASSERT_TRUE(gg.model->gguf);
  const std::string text = corpus_head(4000) + "<|user|>hi<|assistant|>";
  EXPECT_EQ(gg.require_tokenizer().encode(text, false), hf.require_tokenizer().encode(text, false));
  ChatRequest r;
  r.messages = OrderedJson::array({{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hello"}}});
  r.add_generation_prompt = true;
  EXPECT_EQ(gg.require_chat_template().render(r), hf.require_chat_template().render(r));
  // The converter writes eos, eot and eom (8172, 8179, 8181): the same set HF's config and generation_config give.
  EXPECT_EQ(gg.stop_ids, hf.stop_ids);
  EXPECT_TRUE(gg.is_stop(8179));
}

}  // namespace
}  // namespace glmq
