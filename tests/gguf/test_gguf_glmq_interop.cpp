// glmq's GGUF output and importance matrix against llama.cpp b11434 on glm-small:
//  - glmq quantize --format gguf --type bf16 writes the tensors and metadata llama.cpp's convert_hf_to_gguf.py
//    writes, byte for byte;
//  - glmq imatrix collects the statistics llama-imatrix collects (same tensors, same counts, sums equal up to
//    float32 accumulation);
//  - a 4-shard glmq GGUF (routed experts IQ2_S with glmq's imatrix, the rest IQ4_NL, a metadata-only first shard)
//    holds the bytes llama-quantize writes from the converter's file with the same rules and imatrix, and
//    llama-perplexity loads it and measures the perplexity glmq ppl measures on it;
//  - glmq loads llama.cpp's own Q4_K_M (with its Q5_0 fallback), split by llama-gguf-split, and measures
//    llama-perplexity's perplexity;
//  - glmq quantize --compatible --type Q4_K writes llama-quantize's bytes, its Q5_0 fallback for attn_k_b included.
// Runs the glmq command line (build/glmq) and llama.cpp's tools (-DGLMQ_LLAMA_BIN).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <regex>
#include <set>

#include "formats/gguf_file.h"
#include "gguf/llama_converted.h"
#include "model/gguf_model_writer.h"
#include "quant/importance_matrix.h"

namespace glmq {
namespace {

namespace fs = std::filesystem;
const std::string kSmall = std::string(GLMQ_SHARED_DIR) + "/models/glm-small";
const std::string kOut = test::kLlamaConvertedDir;

struct Command {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

Command run(const std::string& cmd) {
  Command r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (std::size_t got; (got = fread(buf, 1, sizeof buf, p)) > 0;) r.output.append(buf, got);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// llama.cpp's tools log through an asynchronous worker that can drop its last lines when the process exits on a
// busy machine; rerun (the computation is deterministic) until `needle` shows up, at most 3 times.
Command run_until_printed(const std::string& cmd, const std::string& needle) {
  Command r;
  for (int attempt = 0; attempt < 3; ++attempt) {
    r = run(cmd);
    if (r.exit_code != 0 || r.output.find(needle) != std::string::npos) break;
  }
  return r;
}

std::string glmq() { return std::string(GLMQ_BINARY_DIR) + "/glmq"; }
std::string llama_tool(const std::string& name) { return std::string(GLMQ_LLAMA_BIN) + "/" + name; }

#define GLMQ_REQUIRE_LLAMA_TOOLS()                                                                   \
  GLMQ_SKIP_WITHOUT_LLAMA_CPP();                                                                   \
  ASSERT_TRUE(fs::exists(llama_tool("llama-perplexity")) && fs::exists(llama_tool("llama-imatrix"))) \
      << "-DGLMQ_LLAMA_BIN has no llama-perplexity / llama-imatrix: " << GLMQ_LLAMA_BIN

// `bytes` of the shared code corpus from `offset`, written to a file under the build folder.
std::string corpus_file(const std::string& name, std::size_t offset, std::size_t bytes) {
  std::ifstream in(std::string(GLMQ_SHARED_DIR) + "/data/corpus/python-code-test.txt", std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::string text(bytes, '\0');
  in.read(text.data(), static_cast<std::streamsize>(bytes));
  text.resize(static_cast<std::size_t>(in.gcount()));
  fs::create_directories(kOut);
  // Written under a name of this process's own and renamed: tests running in parallel may want the same file.
  const std::string path = kOut + "/" + name, part = path + "." + std::to_string(getpid());
  std::ofstream(part, std::ios::binary) << text;
  fs::rename(part, path);
  return path;
}

bool same_value(const GgufValue& a, const GgufValue& b) {
  return a.type() == b.type() && a.element_type() == b.element_type() && a.raw_bytes() == b.raw_bytes() && a.strings() == b.strings();
}

TEST(GlmqGgufInterop, Bf16GgufEqualsLlamaConverterOutput) {
  GLMQ_SKIP_WITHOUT_LLAMA_CPP();
  const std::string converted = test::llama_converted(GLMQ_LLAMA_CPP_DIR, "bf16");
  ASSERT_FALSE(converted.empty()) << "llama.cpp's converter failed; see " << kOut;
  // The converter's own choices: BF16 weights, F32 norms, router and indexer projection.
  const std::string out = kOut + "/glm-small-glmq-bf16.gguf";
  const Command q = run(glmq() + " quantize --format gguf --model " + kSmall + " --out " + out +
                        " --type bf16 --tensor-type 'indexer\\.proj=f32' --threads 2");
  ASSERT_EQ(q.exit_code, 0) << q.output;
  const GgufFile mine(out), theirs(converted);

  ASSERT_EQ(mine.tensors().size(), theirs.tensors().size());
  for (const auto& t : theirs.tensors()) {
    const GgufTensor* m = mine.find_tensor(t.name);
    ASSERT_TRUE(m) << t.name << " missing from glmq's file";
    EXPECT_EQ(m->ggml_type, t.ggml_type) << t.name;
    for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(m->dim(i), t.dim(i)) << t.name << " ne[" << i << "]";
    ASSERT_EQ(m->nbytes, t.nbytes) << t.name;
    EXPECT_EQ(std::memcmp(m->data, t.data, t.nbytes), 0) << t.name << " bytes differ";
  }
  // Every key the converter writes, with the same type and value — except the naming the converter derives from
  // its folder name and README (general.name/basename/size_label).
  const std::set<std::string> naming = {"general.name", "general.basename", "general.size_label"};
  std::set<std::string> compared;
  for (const auto& [key, value] : theirs.metadata()) {
    if (naming.count(key)) continue;
    const GgufValue* v = mine.find(key);
    ASSERT_TRUE(v) << key << " missing from glmq's file";
    EXPECT_TRUE(same_value(*v, value)) << key << " differs (type " << gguf_type_name(v->type()) << " vs " << gguf_type_name(value.type()) << ")";
    compared.insert(key);
  }
  for (const auto& [key, value] : mine.metadata())
    EXPECT_TRUE(compared.count(key) || naming.count(key)) << "glmq writes '" << key << "', the converter does not";
  EXPECT_GT(compared.size(), 40u);
  fs::remove(out);
}

// Per entry: ‖glmq − llama‖₂ / ‖llama‖₂ over the per-column means Σx²/count.
double relative_difference(const ImportanceEntry& a, const ImportanceEntry& b) {
  const std::int64_t total = b.n_experts * b.cols;
  const std::int64_t per = total / a.n_experts, per_b = b.cols;
  double num = 0, den = 0;
  for (std::int64_t i = 0; i < total; ++i) {
    const float ca = a.counts[static_cast<std::size_t>(i / per)], cb = b.counts[static_cast<std::size_t>(i / per_b)];
    const double ma = ca > 0 ? a.sum_sq[static_cast<std::size_t>(i)] / ca : 0.0;
    const double mb = cb > 0 ? b.sum_sq[static_cast<std::size_t>(i)] / cb : 0.0;
    num += (ma - mb) * (ma - mb);
    den += mb * mb;
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

TEST(GlmqGgufInterop, ImatrixAgreesWithLlamaImatrix) {
  GLMQ_REQUIRE_LLAMA_TOOLS();
  // float32 weights and a float32 cache on both sides, so the activations differ only by float32 rounding.
  const std::string f32 = test::llama_converted(GLMQ_LLAMA_CPP_DIR, "f32");
  ASSERT_FALSE(f32.empty()) << "llama.cpp's converter failed; see " << kOut;
  const std::string text = corpus_file("glmq-imatrix-text.txt", 0, 8192);
  const std::string theirs_path = kOut + "/glm-small-llama-imatrix.gguf", mine_path = kOut + "/glm-small-glmq-imatrix.gguf";
  const Command l = run(llama_tool("llama-imatrix") + " -m " + f32 + " -f " + text + " -o " + theirs_path +
                        " -c 128 -b 128 -ub 128 --chunks 4 -t 1 --no-ppl -fa off -ctk f32 -ctv f32");
  ASSERT_EQ(l.exit_code, 0) << l.output;
  const Command g = run(glmq() + " imatrix --model " + f32 + " --data " + text + " --out " + mine_path + " --ctx 128 --chunks 4 --threads 1");
  ASSERT_EQ(g.exit_code, 0) << g.output;
  const ImportanceMatrix theirs = read_importance_matrix(theirs_path), mine = read_importance_matrix(mine_path);

  std::set<std::string> theirs_names, mine_names;
  for (const auto& [name, e] : theirs.entries) theirs_names.insert(name);
  for (const auto& [name, e] : mine.entries) mine_names.insert(name);
  EXPECT_EQ(mine_names, theirs_names);
  EXPECT_EQ(mine.chunk_count, theirs.chunk_count);
  EXPECT_EQ(mine.chunk_size, theirs.chunk_size);

  double worst = 0;
  std::string worst_name;
  int count_mismatches = 0;
  for (const auto& [name, b] : theirs.entries) {
    const ImportanceEntry* a = mine.find(name);
    if (!a) continue;
    ASSERT_EQ(a->n_experts * a->cols, b.n_experts * b.cols) << name;
    ASSERT_EQ(a->n_experts, b.n_experts) << name;
    count_mismatches += a->counts != b.counts;
    const double d = relative_difference(*a, b);
    if (d > worst) {
      worst = d;
      worst_name = name;
    }
  }
  std::cout << "[imatrix interop] " << theirs.entries.size() << " entries; worst relative difference of the means "
            << worst << " (" << worst_name << "); entries with different counts: " << count_mismatches << "\n";
  // Same routing and the same rows everywhere; float32 sums in a different order (and llama.cpp's own matmul and
  // attention kernels) leave differences of order 1e-5 relative (measured 1.1e-5 at most).
  EXPECT_EQ(count_mismatches, 0);
  EXPECT_LT(worst, 1e-4) << worst_name;
}

double final_ppl(const std::string& output, const std::regex& pattern) {
  std::smatch m;
  return std::regex_search(output, m, pattern) ? std::stod(m[1].str()) : -1.0;
}

// llama-perplexity and glmq ppl --method llama on the same model (first shard) and text, chunks of 128 tokens:
// the same predictions, so the perplexities agree within 0.5%.
void expect_llama_perplexity(const std::string& model, const std::string& text, const std::string& what) {
  const Command l = run_until_printed(llama_tool("llama-perplexity") + " -m " + model + " -f " + text +
                                          " --no-escape -nr -c 128 -b 128 -t 1",
                                      "Final estimate: PPL = ");
  ASSERT_EQ(l.exit_code, 0) << l.output;
  const double llama = final_ppl(l.output, std::regex(R"(Final estimate: PPL = ([0-9.]+))"));
  const Command g = run(glmq() + " ppl --model " + model + " --data " + text + " --ctx 128 --method llama --threads 1");
  ASSERT_EQ(g.exit_code, 0) << g.output;
  const double ours = final_ppl(g.output, std::regex(R"(PPL ([0-9.]+) ±)"));
  ASSERT_GT(llama, 0) << l.output;
  ASSERT_GT(ours, 0) << g.output;
  std::cout << "[ppl interop] " << what << ": llama-perplexity " << llama << ", glmq ppl " << ours << " ("
            << 100.0 * (ours / llama - 1.0) << "%)\n";
  EXPECT_NEAR(ours / llama, 1.0, 0.005) << what;
}

// One glmq build shared by the tests below: glmq's imatrix of glm-small (HF) over 4 chunks of 128 tokens, then routed
// experts IQ2_S and everything else IQ4_NL, split so that there are 4 files (metadata + 3 tensor shards).
class GlmqIq2sGguf : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::string(GLMQ_LLAMA_CPP_DIR).empty()) return;  // the tests skip
    const std::string text = corpus_file("glmq-imatrix-text.txt", 0, 8192);
    imatrix_ = kOut + "/glm-small-glmq-hf-imatrix.gguf";
    // One thread for the forward passes: their per-op barriers crawl when the machine is oversubscribed.
    const Command im = run(glmq() + " imatrix --model " + kSmall + " --data " + text + " --out " + imatrix_ +
                           " --ctx 128 --chunks 4 --threads 1");
    if (im.exit_code != 0) {
      setup_error_ = "glmq imatrix failed:\n" + im.output;
      return;
    }
    const ImportanceMatrix weights = read_importance_matrix(imatrix_);
    GgufQuantizeOptions plan;
    plan.rules = Recipe::from_tensor_types({"ffn_(gate|up|down)_exps=IQ2_S", ".*=IQ4_NL"});
    plan.imatrix = &weights;
    const std::string out = kOut + "/glm-small-glmq-iq2s.gguf";
    int split_mb = 0;
    for (int mb = 1; mb <= 40 && split_mb == 0; ++mb) {
      plan.split_max_bytes = static_cast<std::uint64_t>(mb) * 1000 * 1000;
      if (plan_gguf_quantization(kSmall, out, plan).files.size() == 4) split_mb = mb;
    }
    if (split_mb == 0) {
      setup_error_ = "no --split-max-size gives 4 files";
      return;
    }
    const Command q = run(glmq() + " quantize --format gguf --model " + kSmall + " --out " + out +
                          " --type IQ4_NL --tensor-type 'ffn_(gate|up|down)_exps=IQ2_S' --tensor-type '.*=IQ4_NL' --imatrix " +
                          imatrix_ + " --compatible --threads 2 --split-max-size " + std::to_string(split_mb) + "M");
    if (q.exit_code != 0) {
      setup_error_ = "glmq quantize failed:\n" + q.output;
      return;
    }
    std::cout << q.output.substr(q.output.find("type ")) << std::flush;  // the type table
    for (int s = 1; s <= 4; ++s) {
      char name[64];
      std::snprintf(name, sizeof name, "/glm-small-glmq-iq2s-%05d-of-00004.gguf", s);
      shards_.push_back(kOut + name);
    }
  }
  static void TearDownTestSuite() {
    for (const auto& f : shards_) fs::remove(f);
    shards_.clear();
  }
  void SetUp() override {
    GLMQ_REQUIRE_LLAMA_TOOLS();
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    ASSERT_EQ(shards_.size(), 4u);
  }
  static std::string imatrix_, setup_error_;
  static std::vector<std::string> shards_;
};
std::string GlmqIq2sGguf::imatrix_, GlmqIq2sGguf::setup_error_;
std::vector<std::string> GlmqIq2sGguf::shards_;

// Built once per process (ctest runs each test in its own), so both checks share one test:
//  - llama-perplexity loads the 4 shards and measures glmq ppl's perplexity within 0.5%;
//  - llama-quantize with the same rules and imatrix, from llama.cpp's own conversion, writes the same bytes in every
//    tensor and the same metadata, but for the converter's naming and the split keys.
TEST_F(GlmqIq2sGguf, LlamaPerplexityAndLlamaQuantizeAgree) {
  const GgufFile meta(shards_[0]);
  EXPECT_TRUE(meta.tensors().empty()) << "the first shard holds metadata only";
  EXPECT_EQ(meta.get("quantize.imatrix.file").as_string("quantize.imatrix.file"), imatrix_);
  const std::string text = corpus_file("glmq-ppl-text.txt", 8192, 3000);  // 5 chunks of 128 tokens
  expect_llama_perplexity(shards_[0], text, "glmq GGUF (experts IQ2_S + imatrix, rest IQ4_NL, 4 shards)");

  ASSERT_TRUE(fs::exists(llama_tool("llama-quantize"))) << "-DGLMQ_LLAMA_BIN has no llama-quantize";
  const std::string converted = test::llama_converted(GLMQ_LLAMA_CPP_DIR, "bf16");
  ASSERT_FALSE(converted.empty()) << "llama.cpp's converter failed; see " << kOut;
  const std::string reference = kOut + "/glm-small-llama-iq2s.gguf";
  const Command lq = run(llama_tool("llama-quantize") + " --pure --imatrix " + imatrix_ +
                         " --tensor-type 'ffn_(gate|up|down)_exps=iq2_s' --tensor-type '.*=iq4_nl' " + converted + " " + reference +
                         " IQ4_NL 2");
  ASSERT_EQ(lq.exit_code, 0) << lq.output;
  const GgufFile theirs(reference);
  std::vector<std::unique_ptr<GgufFile>> data;
  std::size_t tensors = 0, iq2s = 0;
  for (std::size_t s = 1; s < shards_.size(); ++s) {
    data.push_back(std::make_unique<GgufFile>(shards_[s]));
    tensors += data.back()->tensors().size();
  }
  EXPECT_EQ(tensors, theirs.tensors().size());
  for (const auto& t : theirs.tensors()) {
    const GgufTensor* m = nullptr;
    for (const auto& f : data)
      if (!m) m = f->find_tensor(t.name);
    ASSERT_TRUE(m) << t.name << " missing from glmq's shards";
    EXPECT_EQ(m->ggml_type, t.ggml_type) << t.name;
    ASSERT_EQ(m->nbytes, t.nbytes) << t.name;
    EXPECT_EQ(std::memcmp(m->data, t.data, t.nbytes), 0) << t.name << " bytes differ from llama-quantize's";
    iq2s += t.ggml_type == 22u;
  }
  EXPECT_EQ(iq2s, 15u);  // 5 MoE layers × gate/up/down
  const std::set<std::string> naming = {"general.name", "general.basename", "general.size_label"};
  for (const auto& [key, value] : theirs.metadata()) {
    if (naming.count(key)) continue;
    const GgufValue* v = meta.find(key);
    ASSERT_TRUE(v) << key << " missing from glmq's first shard";
    EXPECT_TRUE(same_value(*v, value)) << key << " differs from llama-quantize's";
  }
  fs::remove(reference);
}

// The other direction: llama.cpp's own Q4_K_M of glm-small (its converter, then llama-quantize Q4_K_M with no
// overrides, so attn_k_b — rows of 64 — takes tensor_type_fallback's Q5_0), split by llama-gguf-split into 3 shards.
// glmq loads the shards and its perplexity matches llama-perplexity's on the same 5 chunks of 128 tokens.
TEST(GlmqGgufInterop, LlamaQ4KMSplitByLlamaGgufSplitMatchesLlamaPerplexity) {
  GLMQ_REQUIRE_LLAMA_TOOLS();
  ASSERT_TRUE(fs::exists(llama_tool("llama-quantize")) && fs::exists(llama_tool("llama-gguf-split")))
      << "-DGLMQ_LLAMA_BIN has no llama-quantize / llama-gguf-split";
  const std::string converted = test::llama_converted(GLMQ_LLAMA_CPP_DIR, "bf16");
  ASSERT_FALSE(converted.empty()) << "llama.cpp's converter failed; see " << kOut;
  const std::string q4km = kOut + "/glm-small-llama-q4_k_m.gguf";
  const Command q = run(llama_tool("llama-quantize") + " " + converted + " " + q4km + " Q4_K_M 2");
  ASSERT_EQ(q.exit_code, 0) << q.output;
  std::size_t q5_0 = 0, tensors = 0;
  {
    const GgufFile whole(q4km);
    tensors = whole.tensors().size();
    for (const auto& t : whole.tensors()) {
      if (t.name.find("attn_k_b") != std::string::npos) {
        EXPECT_EQ(t.ggml_type, 6u) << t.name << " is not Q5_0";
      }
      q5_0 += t.ggml_type == 6u;
    }
  }
  EXPECT_EQ(q5_0, 6u);  // attn_k_b of the 6 layers

  const std::string prefix = kOut + "/glm-small-llama-q4_k_m-split";
  const std::size_t per_shard = (tensors + 2) / 3;
  const Command split = run(llama_tool("llama-gguf-split") + " --split --split-max-tensors " + std::to_string(per_shard) + " " +
                            q4km + " " + prefix);
  ASSERT_EQ(split.exit_code, 0) << split.output;
  fs::remove(q4km);
  std::vector<std::string> shards;
  for (int s = 1; s <= 3; ++s) {
    char name[32];
    std::snprintf(name, sizeof name, "-%05d-of-00003.gguf", s);
    shards.push_back(prefix + name);
    ASSERT_TRUE(fs::exists(shards.back())) << shards.back() << "\n" << split.output;
  }

  const std::string text = corpus_file("llama-q4km-ppl-text.txt", 16384, 3000);  // 5 chunks of 128 tokens
  expect_llama_perplexity(shards[0], text, "llama.cpp Q4_K_M (attn_k_b Q5_0, 3 llama-gguf-split shards)");
  for (const auto& f : shards) fs::remove(f);
}

// glmq quantize --type Q4_K against llama-quantize --pure Q4_K, both with llama-imatrix's importance matrix: the
// tensors whose rows are not whole 256-blocks (attn_k_b, rows of 64) take tensor_type_fallback's Q5_0 in both, with
// the imatrix applied per head slice, and every tensor's bytes are the same.
TEST(GlmqGgufInterop, Q4KWithQ5_0FallbackEqualsLlamaQuantize) {
  GLMQ_REQUIRE_LLAMA_TOOLS();
  ASSERT_TRUE(fs::exists(llama_tool("llama-quantize"))) << "-DGLMQ_LLAMA_BIN has no llama-quantize";
  const std::string converted = test::llama_converted(GLMQ_LLAMA_CPP_DIR, "bf16");
  ASSERT_FALSE(converted.empty()) << "llama.cpp's converter failed; see " << kOut;
  const std::string text = corpus_file("q4k-imatrix-text.txt", 0, 4096);
  const std::string imatrix = kOut + "/glm-small-q4k-llama-imatrix.gguf";
  const Command im = run(llama_tool("llama-imatrix") + " -m " + converted + " -f " + text + " -c 128 --chunks 4 -t 2 --no-ppl -o " + imatrix);
  ASSERT_EQ(im.exit_code, 0) << im.output;
  ASSERT_TRUE(fs::exists(imatrix)) << im.output;
  const std::string theirs_path = kOut + "/glm-small-llama-q4_k.gguf", ours_path = kOut + "/glm-small-glmq-q4_k.gguf";
  const Command lq = run(llama_tool("llama-quantize") + " --pure --imatrix " + imatrix + " " + converted + " " + theirs_path + " Q4_K 2");
  ASSERT_EQ(lq.exit_code, 0) << lq.output;
  const Command gq = run(glmq() + " quantize --format gguf --model " + kSmall + " --out " + ours_path + " --type Q4_K --imatrix " +
                         imatrix + " --compatible --threads 2");
  ASSERT_EQ(gq.exit_code, 0) << gq.output;
  EXPECT_NE(gq.output.find("Q4_K -> Q5_0"), std::string::npos) << "glmq does not report the fallback:\n" << gq.output;
  const GgufFile theirs(theirs_path), ours(ours_path);
  EXPECT_EQ(ours.tensors().size(), theirs.tensors().size());
  std::size_t q5_0 = 0, same = 0;
  for (const auto& t : theirs.tensors()) {
    const GgufTensor* m = ours.find_tensor(t.name);
    ASSERT_TRUE(m) << t.name << " missing from glmq's file";
    EXPECT_EQ(m->ggml_type, t.ggml_type) << t.name;
    ASSERT_EQ(m->nbytes, t.nbytes) << t.name;
    const bool identical = std::memcmp(m->data, t.data, t.nbytes) == 0;
    EXPECT_TRUE(identical) << t.name << " bytes differ from llama-quantize's";
    same += identical;
    q5_0 += t.ggml_type == 6u;
  }
  EXPECT_EQ(q5_0, 6u);  // attn_k_b of the 6 layers
  std::cout << "[quantize interop] glmq quantize --type Q4_K vs llama-quantize --pure Q4_K (imatrix): " << same << " of "
            << theirs.tensors().size() << " tensors identical, " << q5_0 << " Q5_0 fallbacks\n";
  fs::remove(theirs_path);
  fs::remove(ours_path);
}

}  // namespace
}  // namespace glmq
