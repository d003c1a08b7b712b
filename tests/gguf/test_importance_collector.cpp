// glmq imatrix's statistics on glm-mini: the collector's sums and counts against direct computations from the
// activations (recorded through the same MatmulObserver hook) and against the router's own expert choices.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "formats/tensor_store.h"
#include "model/gguf_tensor_plan.h"
#include "model/importance_collector.h"
#include "runtime/importance_run.h"
#include "runtime/loaded_model.h"
#include "runtime/session.h"

namespace glmq {
namespace {

const std::string kMini = std::string(GLMQ_SHARED_DIR) + "/models/glm-mini";

std::vector<std::int32_t> corpus_tokens(const LoadedModel& m, std::size_t n) {
  std::ifstream in(std::string(GLMQ_SHARED_DIR) + "/data/corpus/python-code-test.txt", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto ids = m.require_tokenizer().encode(ss.str().substr(0, 40 * n), false);
  EXPECT_GE(ids.size(), n);
  return {ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(std::min(n, ids.size()))};
}

// Keeps copies of the input rows of chosen weights (by data pointer), in call order.
class InputRecorder : public MatmulObserver {
 public:
  void watch(const WeightMatrix& w, const std::string& name) { names_[w.data] = name; }
  void observe(const WeightMatrix& w, const float* x, std::int64_t n, std::int64_t stride) override {
    const auto it = names_.find(w.data);
    if (it == names_.end()) return;
    auto& rows = rows_[it->second];
    for (std::int64_t r = 0; r < n; ++r) rows.insert(rows.end(), x + r * stride, x + r * stride + w.cols);
  }
  const std::vector<float>& rows(const std::string& name) { return rows_[name]; }

 private:
  std::map<const std::uint8_t*, std::string> names_;
  std::map<std::string, std::vector<float>> rows_;
};

// Runs `tokens` in chunks of `ctx` as run_importance_matrix does, with `observer` watching.
void run_chunks(const Weights& w, CpuBackend& backend, const std::vector<std::int32_t>& tokens, std::int64_t ctx,
                MatmulObserver& observer) {
  Session session(w, backend, ctx, KvCacheOptions{});
  backend.set_matmul_observer(&observer);
  for (std::size_t c = 0; c + static_cast<std::size_t>(ctx) <= tokens.size(); c += static_cast<std::size_t>(ctx)) {
    session.reset();
    session.prefill(std::span<const std::int32_t>(tokens).subspan(c, static_cast<std::size_t>(ctx)));
  }
  backend.set_matmul_observer(nullptr);
}

class ImportanceCollectorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new LoadedModel(load_model_bundle(kMini));
    tokens_ = new std::vector<std::int32_t>(corpus_tokens(*model_, 96));
    CpuBackend backend(1);
    run_ = new ImportanceRun(run_importance_matrix(model_->weights(), backend, *tokens_, {48, 0}));
  }
  static void TearDownTestSuite() {
    delete run_;
    delete tokens_;
    delete model_;
  }
  static const ImportanceEntry& entry(const std::string& name) {
    const ImportanceEntry* e = run_->matrix.find(name);
    EXPECT_TRUE(e) << name;
    return *e;
  }
  static LoadedModel* model_;
  static std::vector<std::int32_t>* tokens_;
  static ImportanceRun* run_;
};
LoadedModel* ImportanceCollectorTest::model_ = nullptr;
std::vector<std::int32_t>* ImportanceCollectorTest::tokens_ = nullptr;
ImportanceRun* ImportanceCollectorTest::run_ = nullptr;

TEST_F(ImportanceCollectorTest, EntriesAreTheGgufWeightsTheForwardPassMultipliesWith) {
  const GlmConfig& c = model_->weights().config;
  EXPECT_EQ(run_->matrix.chunk_count, 2);
  EXPECT_EQ(run_->matrix.chunk_size, 48);
  // Every 2-D/3-D weight of the GGUF layout except the embedding, the head and indexers of layers that reuse
  // another layer's top-k (llama.cpp does not run those either).
  const TensorStore store = TensorStore::open_hf_dir(kMini);
  std::set<std::string> expected;
  for (const auto& t : plan_glm_dsa_tensors(store, c)) {
    if (t.ne.size() < 2 || t.name == "token_embd.weight" || t.name == "output.weight") continue;
    const std::int64_t layer = std::stoll(t.name.substr(4));
    if (t.name.find(".indexer.") != std::string::npos && !c.layer_runs_indexer[static_cast<std::size_t>(layer)]) continue;
    expected.insert(t.name);
    const ImportanceEntry& e = entry(t.name);
    // One sum per input column of every expert / head slice.
    EXPECT_EQ(e.n_experts * e.cols, t.cols() * t.slices()) << t.name;
    const bool routed = t.name.find("_exps.") != std::string::npos;
    EXPECT_EQ(e.n_experts, routed ? c.n_routed_experts : 1) << t.name;
    if (!routed) {
      EXPECT_EQ(e.counts.at(0), 96.0f) << t.name;  // every token, once
    }
  }
  std::set<std::string> got;
  for (const auto& [name, e] : run_->matrix.entries) got.insert(name);
  EXPECT_EQ(got, expected);
  EXPECT_TRUE(expected.count("blk.1.attn_k_b.weight") && expected.count("blk.1.ffn_gate_inp.weight") &&
              expected.count("blk.1.ffn_down_shexp.weight") && expected.count("blk.0.indexer.proj.weight"));
}

TEST_F(ImportanceCollectorTest, ExpertCountsEqualTheRoutersAssignments) {
  const Weights& w = model_->weights();
  const GlmConfig& c = w.config;
  // Record each MoE layer's router input, then route it as the forward pass does and count tokens per expert.
  InputRecorder recorder;
  for (std::size_t l = 0; l < w.layers.size(); ++l)
    if (w.layers[l].moe) recorder.watch(w.layers[l].moe->router, std::to_string(l));
  CpuBackend backend(1);
  run_chunks(w, backend, *tokens_, 48, recorder);
  int moe_layers = 0;
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    if (!w.layers[l].moe) continue;
    ++moe_layers;
    const std::vector<float>& x = recorder.rows(std::to_string(l));
    const auto n = static_cast<std::int64_t>(x.size()) / c.hidden_size;
    ASSERT_EQ(n, 96);
    std::vector<float> logits(static_cast<std::size_t>(n * c.n_routed_experts)), weights(static_cast<std::size_t>(n * c.num_experts_per_tok));
    std::vector<std::int32_t> chosen(weights.size());
    backend.linear(w.layers[l].moe->router, x.data(), n, logits.data());
    MoeRouteArgs ra;
    ra.n_tokens = n;
    ra.n_experts = c.n_routed_experts;
    ra.top_k = c.num_experts_per_tok;
    ra.n_group = c.n_group;
    ra.topk_group = c.topk_group;
    ra.norm_topk_prob = c.norm_topk_prob;
    ra.routed_scaling_factor = static_cast<float>(c.routed_scaling_factor);
    ra.logits = logits.data();
    ra.correction_bias = w.layers[l].moe->correction_bias.data();
    ra.experts = chosen.data();
    ra.weights = weights.data();
    backend.moe_route(ra);
    std::vector<float> per_expert(static_cast<std::size_t>(c.n_routed_experts), 0.0f);
    for (auto e : chosen) per_expert[static_cast<std::size_t>(e)] += 1.0f;
    for (const char* proj : {"gate", "up", "down"}) {
      const std::string name = "blk." + std::to_string(l) + ".ffn_" + proj + "_exps.weight";
      EXPECT_EQ(entry(name).counts, per_expert) << name;
    }
    float total = 0;
    for (float v : per_expert) total += v;
    EXPECT_EQ(total, static_cast<float>(96 * c.num_experts_per_tok));
  }
  EXPECT_EQ(moe_layers, 5);
}

TEST_F(ImportanceCollectorTest, SumsOfSquaresEqualDirectComputation) {
  const Weights& w = model_->weights();
  const GlmConfig& c = w.config;
  // Layer 0's attention input is computable from the weights alone: rms_norm(embedding) ⊙ attn_norm.
  std::vector<double> direct(static_cast<std::size_t>(c.hidden_size), 0.0);
  std::vector<float> row(static_cast<std::size_t>(c.hidden_size));
  CpuBackend backend(1);
  for (std::int32_t t : *tokens_) {
    backend.embed(w.embed, &t, 1, row.data());
    double ms = 0;
    for (float v : row) ms += static_cast<double>(v) * v;
    const double inv = 1.0 / std::sqrt(ms / static_cast<double>(c.hidden_size) + c.rms_norm_eps);
    for (std::int64_t j = 0; j < c.hidden_size; ++j) {
      const double a = w.layers[0].attn_norm[static_cast<std::size_t>(j)] * (row[static_cast<std::size_t>(j)] * inv);
      direct[static_cast<std::size_t>(j)] += a * a;
    }
  }
  const ImportanceEntry& q_a = entry("blk.0.attn_q_a.weight");
  for (std::int64_t j = 0; j < c.hidden_size; ++j)
    EXPECT_NEAR(q_a.sum_sq[static_cast<std::size_t>(j)], direct[static_cast<std::size_t>(j)], 1e-4 * direct[static_cast<std::size_t>(j)] + 1e-6)
        << "column " << j;
  // The other products with the same input have bit-identical statistics.
  for (const char* name : {"blk.0.attn_kv_a_mqa.weight", "blk.0.indexer.attn_k.weight", "blk.0.indexer.proj.weight"})
    EXPECT_EQ(entry(name).sum_sq, q_a.sum_sq) << name;
  EXPECT_EQ(entry("blk.1.ffn_gate_exps.weight").sum_sq, entry("blk.1.ffn_up_exps.weight").sum_sq);

  // attn_k_b multiplies each head's nope part of q = W_qb · (q_a's normalised output): record that input and
  // rebuild q_nope per head; head h's sums sit at [h·nope, (h+1)·nope).
  InputRecorder recorder;
  recorder.watch(w.layers[1].attn.q_b, "q_b");
  run_chunks(w, backend, *tokens_, 48, recorder);
  const std::vector<float>& qr = recorder.rows("q_b");
  const std::int64_t n = static_cast<std::int64_t>(qr.size()) / c.q_lora_rank, heads = c.num_attention_heads, qk = c.qk_head_dim();
  std::vector<float> q(static_cast<std::size_t>(n * heads * qk));
  backend.linear(w.layers[1].attn.q_b, qr.data(), n, q.data());
  const ImportanceEntry& k_b = entry("blk.1.attn_k_b.weight");
  ASSERT_EQ(k_b.cols, heads * c.qk_nope_head_dim);
  double worst = 0;
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t d = 0; d < c.qk_nope_head_dim; ++d) {
      double s = 0;
      for (std::int64_t t = 0; t < n; ++t) {
        const double v = q[static_cast<std::size_t>((t * heads + h) * qk + d)];
        s += v * v;
      }
      const double got = k_b.sum_sq[static_cast<std::size_t>(h * c.qk_nope_head_dim + d)];
      worst = std::max(worst, std::fabs(got - s) / (s + 1e-6));
    }
  EXPECT_LT(worst, 1e-4);
}

TEST_F(ImportanceCollectorTest, CovarianceAgreesWithTheImportanceStatistics) {
  // The same run collecting Σ xᵀx: the importance matrix is unchanged, each covariance is symmetric, its diagonal
  // is the sums of squares (up to float32 summation order), one matrix per routed expert and per attention head.
  const GlmConfig& c = model_->weights().config;
  CpuBackend backend(1);
  ImportanceRunOptions o{48, 0};
  o.collect_covariance = true;
  const ImportanceRun run = run_importance_matrix(model_->weights(), backend, *tokens_, o);
  // Every imatrix entry, and the LM head (which llama-imatrix leaves out), over every token of the run.
  ASSERT_EQ(run.covariance.entries.size(), run_->matrix.entries.size() + 1);
  const CovarianceEntry* head = run.covariance.find(c.tie_word_embeddings ? "token_embd.weight" : "output.weight");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->cols, c.hidden_size);
  EXPECT_EQ(head->counts, std::vector<float>{static_cast<float>(tokens_->size())});
  EXPECT_FALSE(run.matrix.find("output.weight"));
  EXPECT_EQ(run.covariance.chunk_count, run_->matrix.chunk_count);
  for (const auto& [name, imp] : run_->matrix.entries) {
    EXPECT_EQ(run.matrix.find(name)->sum_sq, imp.sum_sq) << name;
    const CovarianceEntry* cov = run.covariance.find(name);
    ASSERT_TRUE(cov) << name;
    ASSERT_EQ(cov->slices * cov->cols, imp.n_experts * imp.cols) << name;
    if (imp.n_experts > 1) {
      EXPECT_EQ(cov->counts, imp.counts) << name;
    }
    const std::int64_t n = cov->cols;
    double worst_diag = 0, worst_sym = 0;
    for (std::int64_t s = 0; s < cov->slices; ++s) {
      const float* h = cov->slice(s);
      for (std::int64_t i = 0; i < n; ++i) {
        const double want = imp.sum_sq[static_cast<std::size_t>(s * n + i)];
        worst_diag = std::max(worst_diag, std::fabs(h[i * n + i] - want) / (want + 1e-6));
        for (std::int64_t j = 0; j < i; ++j) worst_sym = std::max(worst_sym, static_cast<double>(std::fabs(h[i * n + j] - h[j * n + i])));
      }
    }
    EXPECT_LT(worst_diag, 1e-4) << name;
    EXPECT_EQ(worst_sym, 0.0) << name;
  }
  EXPECT_EQ(run.covariance.find("blk.1.ffn_gate_exps.weight")->slices, c.n_routed_experts);
  EXPECT_EQ(run.covariance.find("blk.1.attn_k_b.weight")->slices, c.num_attention_heads);
  EXPECT_EQ(run.covariance.find("blk.1.attn_k_b.weight")->cols, c.qk_nope_head_dim);
  EXPECT_EQ(run.covariance.find("blk.0.attn_q_a.weight")->slices, 1);
}

TEST(ImportanceCollector, ShortBatchesCountOnlyForRoutedExperts) {
  // As llama-imatrix: products over fewer than 16 rows are skipped, except the routed experts'.
  const LoadedModel m = load_model_bundle(kMini);
  const auto tokens = corpus_tokens(m, 8);
  CpuBackend backend(1);
  const ImportanceRun run = run_importance_matrix(m.weights(), backend, tokens, {8, 0});
  EXPECT_EQ(run.matrix.find("blk.1.attn_q_a.weight")->counts, std::vector<float>{0.0f});
  float routed = 0;
  for (float v : run.matrix.find("blk.1.ffn_up_exps.weight")->counts) routed += v;
  EXPECT_EQ(routed, static_cast<float>(8 * m.weights().config.num_experts_per_tok));
}

TEST(ImportanceCollector, RefusesTextShorterThanOneChunk) {
  const LoadedModel m = load_model_bundle(kMini);
  CpuBackend backend(1);
  const std::vector<std::int32_t> tokens(10, 5);
  try {
    run_importance_matrix(m.weights(), backend, tokens, {16, 0});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("10 tokens, fewer than one chunk of 16"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace glmq
