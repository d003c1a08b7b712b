// Scoring on the trained glm-mini model: lm-eval's pair encoding, shared-prefix scoring equal to scoring each
// request on its own, and perplexity runs equal to a direct computation.
#include <gtest/gtest.h>

#include <filesystem>

#include "backend/cpu/cpu_backend.h"
#include "eval/jsonl_file.h"
#include "eval/lm_eval_prompts.h"
#include "eval/log_softmax.h"
#include "eval/loglikelihood_scorer.h"
#include "eval/perplexity.h"
#include "model/weights.h"

namespace glmq::eval {
namespace {

const std::string kMini = std::string(GLMQ_SHARED_DIR) + "/models/glm-mini";

class GlmMini : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(kMini + "/model.safetensors")) return;
    model_ = Model::load_hf(kMini).release();
    tokenizer_ = new Tokenizer(Tokenizer::from_directory(kMini));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tokenizer_;
    model_ = nullptr;
    tokenizer_ = nullptr;
  }
  void SetUp() override {
    if (!model_) GTEST_SKIP() << "no " << kMini;
  }
  static std::vector<std::int32_t> encode(const std::string& text) {
    auto ids = tokenizer_->encode(text, false);
    return {ids.begin(), ids.end()};
  }
  // Log-likelihood of a request computed the plain way: one prefill of context + continuation from empty.
  static double direct_loglikelihood(Session& session, const EncodedRequest& r) {
    std::vector<std::int32_t> input = r.context;
    input.insert(input.end(), r.continuation.begin(), r.continuation.end() - 1);
    session.reset();
    auto logits = session.prefill(input, true);
    const std::size_t vocab = logits.size() / input.size();
    double ll = 0;
    for (std::size_t j = 0; j < r.continuation.size(); ++j)
      ll += token_log_prob(logits.subspan((r.context.size() + j - 1) * vocab, vocab), r.continuation[j]);
    return ll;
  }
  static Model* model_;
  static Tokenizer* tokenizer_;
  CpuBackend backend_{2};
};
Model* GlmMini::model_ = nullptr;
Tokenizer* GlmMini::tokenizer_ = nullptr;

TEST_F(GlmMini, EncodePairMovesTrailingSpaceIntoContinuation) {
  auto plain = encode_pair(*tokenizer_, "Question: why?\nAnswer:", " Because.");
  auto spaced = encode_pair(*tokenizer_, "Question: why?\nAnswer: ", "Because.");
  EXPECT_EQ(plain.context, encode("Question: why?\nAnswer:"));
  EXPECT_EQ(spaced.context, plain.context);
  EXPECT_EQ(spaced.continuation, plain.continuation);
  auto whole = encode("Question: why?\nAnswer: Because.");
  EXPECT_EQ(plain.continuation,
            std::vector<std::int32_t>(whole.begin() + static_cast<std::ptrdiff_t>(plain.context.size()), whole.end()));
}

TEST_F(GlmMini, SharedPrefixScoringEqualsScoringEachRequestAlone) {
  Session session(model_->weights, backend_, 512);
  LoglikelihoodScorer scorer(session, *tokenizer_);
  const std::vector<MultipleChoiceDoc> docs = {
      hellaswag_doc("Roof shingle removal", "A man is sitting on a roof. he",
                    {"is using wrap to wrap a pair of skis.", "is ripping level tiles off.",
                     "is holding a rubik's cube.", "starts pulling up roofing on a roof."},
                    3),
      winogrande_doc("Sarah was a much better surgeon than Maria so _ always got the easier cases.", "Sarah", "Maria",
                     "2"),
      piqa_doc("How do I sort a list in Python?", "Call sorted() on it.", "Call print() on it.", 0)};
  for (const auto& doc : docs) {
    auto scores = scorer.score(doc.requests);
    ASSERT_EQ(scores.size(), doc.requests.size());
    for (std::size_t i = 0; i < scores.size(); ++i) {
      ASSERT_FALSE(scores[i].tokens.continuation.empty());
      const double direct = direct_loglikelihood(session, scores[i].tokens);
      EXPECT_NEAR(scores[i].loglikelihood, direct, 1e-4)
          << doc.requests[i].context << " |" << doc.requests[i].continuation;
      EXPECT_LT(scores[i].loglikelihood, 0.0);
    }
  }
}

TEST_F(GlmMini, StridedPerplexityOfOneWindowIsTheDirectAverage) {
  const std::string text =
      read_text_file(std::string(GLMQ_SHARED_DIR) + "/data/corpus/python-code-test.txt").substr(0, 1500);
  auto tokens = encode(text);
  ASSERT_GT(tokens.size(), 100u);
  tokens.resize(100);
  Session session(model_->weights, backend_, 128);
  auto logits = session.prefill(std::span(tokens).first(99), true);
  NllStats direct;
  for (std::size_t p = 0; p + 1 < tokens.size(); ++p)
    direct.add(-token_log_prob(logits.subspan(p * 8192, 8192), tokens[p + 1]));
  auto one = strided_perplexity(session, tokens, plan_strided_windows(100, 128, 64));
  EXPECT_EQ(one.nll.count(), 99);
  EXPECT_NEAR(one.nll.mean(), direct.mean(), 1e-5);
  // Overlapping windows score the same 99 predictions, each with less context.
  std::int64_t seen = 0;
  auto many = strided_perplexity(session, tokens, plan_strided_windows(100, 32, 16),
                                 [&](std::span<const float> row, std::int32_t, double) { seen += row.size() == 8192; });
  EXPECT_EQ(many.nll.count(), 99);
  EXPECT_EQ(seen, 99);
  EXPECT_GT(many.nll.mean(), 0.0);
}

}  // namespace
}  // namespace glmq::eval
