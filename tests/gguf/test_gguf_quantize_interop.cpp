// glmq's GGML quantizers and imatrix files against llama.cpp's: glm-small converted by llama.cpp's
// convert_hf_to_gguf.py (bf16 and q8_0, via tests/gguf/llama_convert.py) and, when GLMQ_LLAMA_BIN names llama.cpp's
// tools, re-quantized by llama-quantize --pure, with and without an importance matrix that llama-imatrix collects
// on the bf16 model. Every tensor glmq quantizes from the bf16 values — with the quant_weights it derives from the
// same imatrix file, per expert for 3-D tensors — must equal llama.cpp's bytes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "core/float_convert.h"
#include "formats/ggml_types.h"
#include "formats/gguf_file.h"
#include "gguf/llama_converted.h"
#include "quant/ggml_quantize.h"
#include "quant/importance_matrix.h"

namespace glmq {
namespace {

const std::string kLlamaSrc = GLMQ_LLAMA_CPP_DIR;
const std::string kLlamaBin = GLMQ_LLAMA_BIN;
const std::string kOut = test::kLlamaConvertedDir;

std::string converted(const std::string& outtype) { return test::llama_converted(kLlamaSrc, outtype); }

std::string llama_tool(const std::string& name) { return kLlamaBin + "/" + name; }

#define GLMQ_REQUIRE_LLAMA_TOOL(name)                                                                         \
  GLMQ_SKIP_WITHOUT_LLAMA_CPP();                                                                            \
  ASSERT_TRUE(std::filesystem::exists(llama_tool(name))) << "-DGLMQ_LLAMA_BIN has no " << llama_tool(name)

// Runs a shell command with its output in `log`; true on exit status 0.
bool run_logged(const std::string& cmd, const std::string& log) {
  return std::system((cmd + " > " + log + " 2>&1").c_str()) == 0;
}

// The imatrix llama-imatrix collects on glm-small (bf16) over the first 8 KiB of the shared code corpus
// (8 chunks of 128 tokens), in GGUF or legacy .dat form, cached under the build folder; "" on failure. Files are
// made under per-process names and renamed into place, so tests that ctest runs in parallel never see half a file.
std::string llama_imatrix(const std::string& bf16, const std::string& format) {
  const std::string path = kOut + "/glm-small-imatrix." + format;
  if (std::filesystem::exists(path)) return path;
  const std::string pid = std::to_string(::getpid());
  const std::string text = kOut + "/imatrix-text.txt";
  if (!std::filesystem::exists(text)) {
    std::ifstream in(std::string(GLMQ_SHARED_DIR) + "/data/corpus/python-code-test.txt", std::ios::binary);
    std::string head(8192, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(in.gcount()));
    if (head.size() < 4096) return "";
    std::ofstream(text + "." + pid, std::ios::binary) << head;
    std::filesystem::rename(text + "." + pid, text);
  }
  const std::string part = kOut + "/glm-small-imatrix.part" + pid + "." + format;
  const std::string cmd = llama_tool("llama-imatrix") + " -m " + bf16 + " -f " + text +
                          " -c 128 --chunks 8 -t 2 --no-ppl --output-format " + format + " -o " + part;
  if (!run_logged(cmd, part + ".log")) return "";
  std::filesystem::rename(part, path);
  std::filesystem::rename(part + ".log", path + ".log");
  return path;
}

// Threads for llama-quantize and for glmq's side: rows are quantized independently, so no byte depends on it.
unsigned worker_threads() { return std::clamp(std::thread::hardware_concurrency(), 1u, 8u); }

// llama-quantize --pure [--imatrix FILE] [EXTRA] SOURCE OUT TYPE; "" on failure (log beside OUT).
std::string llama_quantize(const std::string& source, const std::string& out, const std::string& type,
                           const std::string& imatrix, const std::string& extra = "") {
  const std::string cmd = llama_tool("llama-quantize") + " --pure " + (imatrix.empty() ? "" : "--imatrix " + imatrix + " ") +
                          (extra.empty() ? "" : extra + " ") + source + " " + out + " " + type + " " +
                          std::to_string(worker_threads());
  return run_logged(cmd, out + ".log") ? out : "";
}

std::vector<float> source_values(const GgufTensor& s) {
  std::vector<float> x(static_cast<std::size_t>(s.numel()));
  if (s.ggml_type == 0u) {
    std::memcpy(x.data(), s.data, 4 * x.size());
  } else {
    for (std::size_t i = 0; i < x.size(); ++i) {
      std::uint16_t h;
      std::memcpy(&h, s.data + 2 * i, 2);
      x[i] = bf16_to_f32(h);
    }
  }
  return x;
}

// Identical / compared blocks per "TYPE" or "TYPE +imatrix".
struct Tally {
  std::map<std::string, std::pair<std::size_t, std::size_t>> blocks;
  int tensors = 0;
  void print(const std::string& run) const {
    for (const auto& [key, c] : blocks)
      std::cout << "[quantize interop] " << run << ": " << key << ": " << c.first << " of " << c.second
                << " blocks bit-identical\n";
  }
};

// Quantizes `s` as llama-quantize does: rows of ne[0] values, and for each of the ne[2] slices (experts, or the
// heads of attn_k_b / attn_v_b) that slice's quant_weights from the imatrix entry of the same name, if any.
std::vector<std::uint8_t> quantize_like_llama(WeightType type, const GgufTensor& s, const ImportanceMatrix* imatrix,
                                              bool& used_imatrix) {
  const std::vector<float> x = source_values(s);
  const std::int64_t cols = s.dim(0), rows_per_slice = s.dim(1), slices = s.numel() / (cols * rows_per_slice);
  const ImportanceEntry* entry = imatrix ? imatrix->find(s.name) : nullptr;
  const std::vector<float> weights = entry ? tensor_quant_weights(*entry, s.name, cols, slices) : std::vector<float>{};
  used_imatrix = entry != nullptr;
  const std::size_t row_bytes = weight_row_bytes(type, static_cast<std::size_t>(cols));
  std::vector<std::uint8_t> out(static_cast<std::size_t>(rows_per_slice * slices) * row_bytes);
  for (std::int64_t e = 0; e < slices; ++e)
    quantize_ggml(type, x.data() + e * rows_per_slice * cols, out.data() + static_cast<std::size_t>(e * rows_per_slice) * row_bytes,
                  rows_per_slice, cols, entry ? weights.data() + e * cols : nullptr);
  return out;
}

// Compares every tensor of `quantized` that glmq can produce with glmq's quantization of the same tensor in
// `source` (bf16, or f32 for the router and indexer projections the converter widens). Tensors are quantized on a
// few threads (rows are independent, so this changes no byte) and compared on the test's thread.
void expect_same_quantization(const GgufFile& source, const GgufFile& quantized, const ImportanceMatrix* imatrix,
                              Tally& tally) {
  struct Job {
    const GgufTensor* q = nullptr;
    const GgufTensor* s = nullptr;
    WeightType type = WeightType::F32;
    std::vector<std::uint8_t> mine;
    bool used_imatrix = false;
    std::string error;
  };
  std::vector<Job> jobs;
  for (const auto& q : quantized.tensors()) {
    auto type = weight_type_from_ggml(q.ggml_type);
    if (!type || !ggml_can_quantize(*type)) continue;
    const GgufTensor* s = source.find_tensor(q.name);
    ASSERT_TRUE(s) << q.name;
    ASSERT_TRUE(s->ggml_type == 30u || s->ggml_type == 0u) << q.name << " is neither bf16 nor f32 in the source";
    jobs.push_back({&q, s, *type, {}, false, {}});
  }
  std::atomic<std::size_t> next{0};
  auto work = [&]() {
    for (std::size_t i; (i = next++) < jobs.size();) {
      try {
        jobs[i].mine = quantize_like_llama(jobs[i].type, *jobs[i].s, imatrix, jobs[i].used_imatrix);
      } catch (const std::exception& e) {
        jobs[i].error = e.what();
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < worker_threads(); ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  for (const Job& j : jobs) {
    ASSERT_TRUE(j.error.empty()) << j.q->name << ": " << j.error;
    ASSERT_EQ(j.mine.size(), j.q->nbytes) << j.q->name;
    const std::size_t bb = weight_block_bytes(j.type);
    std::size_t same = 0;
    for (std::size_t off = 0; off < j.q->nbytes; off += bb) same += std::memcmp(j.mine.data() + off, j.q->data + off, bb) == 0;
    const std::size_t blocks = j.q->nbytes / bb;
    EXPECT_EQ(same, blocks) << j.q->name << " (" << weight_type_name(j.type) << (j.used_imatrix ? ", imatrix" : "")
                            << "): " << blocks - same << " of " << blocks << " blocks differ";
    auto& t = tally.blocks[std::string(weight_type_name(j.type)) + (j.used_imatrix ? " +imatrix" : "")];
    t.first += same;
    t.second += blocks;
    ++tally.tensors;
  }
}

TEST(GgufQuantInterop, Q8_0MatchesLlamaConverter) {
  GLMQ_SKIP_WITHOUT_LLAMA_CPP();
  const std::string bf16 = converted("bf16"), q8 = converted("q8_0");
  ASSERT_FALSE(bf16.empty() || q8.empty()) << "llama.cpp's converter failed; see " << kOut;
  GgufFile source(bf16), quantized(q8);
  Tally tally;
  expect_same_quantization(source, quantized, nullptr, tally);
  EXPECT_GT(tally.tensors, 50);
  tally.print("convert_hf_to_gguf q8_0");
}

// Without an imatrix llama-quantize runs ggml's _ref algorithms for the K-quants. (IQ2_S needs an imatrix in
// llama-quantize; its no-imatrix path is covered by token_embd/output in the imatrix run below, which
// llama-quantize quantizes without weights because llama-imatrix collects none for them.)
class LlamaQuantizeWithout : public ::testing::TestWithParam<const char*> {};

TEST_P(LlamaQuantizeWithout, MatchesGlmqByteForByte) {
  GLMQ_REQUIRE_LLAMA_TOOL("llama-quantize");
  const std::string type = GetParam();
  const std::string bf16 = converted("bf16");
  ASSERT_FALSE(bf16.empty());
  const std::string out = llama_quantize(bf16, kOut + "/glm-small-" + type + ".gguf", type, "");
  ASSERT_FALSE(out.empty()) << "llama-quantize failed; see " << kOut << "/glm-small-" << type << ".gguf.log";
  GgufFile source(bf16), quantized(out);
  Tally tally;
  expect_same_quantization(source, quantized, nullptr, tally);
  EXPECT_GT(tally.tensors, 50) << type;
  tally.print("llama-quantize --pure " + type);
}

INSTANTIATE_TEST_SUITE_P(Types, LlamaQuantizeWithout,
                         ::testing::Values("Q6_K", "IQ4_NL", "Q4_K", "IQ4_XS", "Q5_K", "Q3_K", "Q2_K", "Q4_0", "Q5_0", "Q5_1",
                                           "IQ3_S"),
                         [](const ::testing::TestParamInfo<const char*>& p) { return std::string(p.param); });

// With llama-imatrix's GGUF imatrix: glmq reads the same file and derives the quant_weights itself.
// llama-quantize's type argument is a file type; with --pure its default tensor type is what every tensor gets,
// and for IQ2_S tensors that is the IQ2_M file type (the IQ2_S file type defaults to IQ2_XS; quant_gguf.md §7.2).
struct FileType {
  const char* ftype;
  const char* tensor_type;
};
void PrintTo(const FileType& f, std::ostream* os) { *os << f.ftype << " (" << f.tensor_type << " tensors)"; }
class LlamaQuantizeWithImatrix : public ::testing::TestWithParam<FileType> {};

TEST_P(LlamaQuantizeWithImatrix, MatchesGlmqByteForByte) {
  GLMQ_REQUIRE_LLAMA_TOOL("llama-quantize");
  ASSERT_TRUE(std::filesystem::exists(llama_tool("llama-imatrix"))) << "-DGLMQ_LLAMA_BIN has no llama-imatrix";
  const std::string ftype = GetParam().ftype, type = GetParam().tensor_type;
  const std::string bf16 = converted("bf16");
  ASSERT_FALSE(bf16.empty());
  const std::string imatrix_path = llama_imatrix(bf16, "gguf");
  ASSERT_FALSE(imatrix_path.empty()) << "llama-imatrix failed; see its log in " << kOut;
  const std::string out = llama_quantize(bf16, kOut + "/glm-small-" + type + "-imatrix.gguf", ftype, imatrix_path);
  ASSERT_FALSE(out.empty()) << "llama-quantize failed; see " << kOut << "/glm-small-" << type << "-imatrix.gguf.log";
  const ImportanceMatrix imatrix = read_importance_matrix(imatrix_path);
  GgufFile source(bf16), quantized(out);
  Tally tally;
  expect_same_quantization(source, quantized, &imatrix, tally);
  EXPECT_GT(tally.tensors, 50) << type;
  // The imatrix must actually have been used: routed experts and the dense projections have entries.
  EXPECT_GT(tally.blocks[type + " +imatrix"].second, 0u) << type;
  tally.print("llama-quantize --pure --imatrix " + type);
}

INSTANTIATE_TEST_SUITE_P(Types, LlamaQuantizeWithImatrix,
                         ::testing::Values(FileType{"Q6_K", "Q6_K"}, FileType{"IQ4_NL", "IQ4_NL"}, FileType{"Q4_K", "Q4_K"},
                                           FileType{"IQ2_M", "IQ2_S"}, FileType{"IQ4_XS", "IQ4_XS"}, FileType{"Q5_K", "Q5_K"},
                                           FileType{"Q3_K", "Q3_K"}, FileType{"Q2_K", "Q2_K"}, FileType{"Q4_0", "Q4_0"},
                                           FileType{"Q5_0", "Q5_0"}, FileType{"Q5_1", "Q5_1"}, FileType{"IQ3_S", "IQ3_S"}),
                         [](const ::testing::TestParamInfo<FileType>& p) { return std::string(p.param.tensor_type); });

// IQ2_XXS has no unweighted form (ggml asserts on a null imatrix, even for token_embd/output, which
// tensor_requires_imatrix exempts), so only the routed experts, which llama-imatrix collects for, are made IQ2_XXS
// with --tensor-type; the rest is Q8_0.
TEST(GgufQuantInterop, Iq2XxsExpertsWithImatrixMatchLlamaQuantize) {
  GLMQ_REQUIRE_LLAMA_TOOL("llama-quantize");
  ASSERT_TRUE(std::filesystem::exists(llama_tool("llama-imatrix"))) << "-DGLMQ_LLAMA_BIN has no llama-imatrix";
  const std::string bf16 = converted("bf16");
  ASSERT_FALSE(bf16.empty());
  const std::string imatrix_path = llama_imatrix(bf16, "gguf");
  ASSERT_FALSE(imatrix_path.empty()) << "llama-imatrix failed; see its log in " << kOut;
  const std::string out = llama_quantize(bf16, kOut + "/glm-small-IQ2_XXS-exps-imatrix.gguf", "Q8_0", imatrix_path,
                                         "--tensor-type _exps=iq2_xxs");
  ASSERT_FALSE(out.empty()) << "llama-quantize failed; see " << kOut << "/glm-small-IQ2_XXS-exps-imatrix.gguf.log";
  const ImportanceMatrix imatrix = read_importance_matrix(imatrix_path);
  GgufFile source(bf16), quantized(out);
  Tally tally;
  expect_same_quantization(source, quantized, &imatrix, tally);
  EXPECT_GT(tally.blocks["IQ2_XXS +imatrix"].second, 0u);
  EXPECT_EQ(tally.blocks.count("IQ2_XXS"), 0u) << "an IQ2_XXS tensor without weights";
  tally.print("llama-quantize --pure --imatrix --tensor-type _exps=iq2_xxs Q8_0");
}

// The imatrix file itself: llama-imatrix's entries (3-D expert tensors keep one count per expert; attn_k_b/attn_v_b
// collapse to one), glmq's write → read round trip, and llama-quantize taking a glmq-written file as its own.
TEST(GgufImatrixInterop, GlmqWrittenImatrixQuantizesLikeTheOriginal) {
  GLMQ_REQUIRE_LLAMA_TOOL("llama-quantize");
  const std::string bf16 = converted("bf16");
  ASSERT_FALSE(bf16.empty());
  const std::string original = llama_imatrix(bf16, "gguf");
  ASSERT_FALSE(original.empty());
  const ImportanceMatrix m = read_importance_matrix(original);
  const GgufFile source(bf16);
  const ImportanceEntry* experts = m.find("blk.1.ffn_gate_exps.weight");
  ASSERT_TRUE(experts);
  EXPECT_EQ(experts->n_experts, source.find_tensor("blk.1.ffn_gate_exps.weight")->dim(2));
  EXPECT_EQ(experts->cols, source.find_tensor("blk.1.ffn_gate_exps.weight")->dim(0));
  const ImportanceEntry* k_b = m.find("blk.1.attn_k_b.weight");
  ASSERT_TRUE(k_b);
  EXPECT_EQ(k_b->n_experts * k_b->cols, source.find_tensor("blk.1.attn_k_b.weight")->dim(0) *
                                            source.find_tensor("blk.1.attn_k_b.weight")->dim(2));
  EXPECT_EQ(m.chunk_size, 128);
  EXPECT_EQ(m.chunk_count, 8);
  ASSERT_EQ(m.datasets.size(), 1u);
  EXPECT_NE(m.datasets[0].find("imatrix-text.txt"), std::string::npos);

  const std::string written = kOut + "/glm-small-imatrix.glmq-written.gguf";
  write_importance_matrix(written, m);
  const ImportanceMatrix back = read_importance_matrix(written);
  EXPECT_EQ(back.datasets, m.datasets);
  EXPECT_EQ(back.chunk_count, m.chunk_count);
  EXPECT_EQ(back.chunk_size, m.chunk_size);
  ASSERT_EQ(back.entries.size(), m.entries.size());
  for (const auto& [name, e] : m.entries) {
    const ImportanceEntry* b = back.find(name);
    ASSERT_TRUE(b) << name;
    EXPECT_EQ(b->n_experts, e.n_experts) << name;
    EXPECT_EQ(b->sum_sq, e.sum_sq) << name;
    EXPECT_EQ(b->counts, e.counts) << name;
  }

  // Q4_K: a type whose every routed-expert and dense tensor uses the weights (cheap to run twice).
  const std::string a = llama_quantize(bf16, kOut + "/glm-small-Q4_K-imatrix-original.gguf", "Q4_K", original);
  const std::string b = llama_quantize(bf16, kOut + "/glm-small-Q4_K-imatrix-glmq.gguf", "Q4_K", written);
  ASSERT_FALSE(a.empty() || b.empty()) << "llama-quantize failed; see the logs in " << kOut;
  GgufFile qa(a), qb(b);
  ASSERT_EQ(qa.tensors().size(), qb.tensors().size());
  std::size_t identical = 0;
  for (const auto& t : qa.tensors()) {
    const GgufTensor* u = qb.find_tensor(t.name);
    ASSERT_TRUE(u && u->ggml_type == t.ggml_type && u->nbytes == t.nbytes) << t.name;
    const bool same = std::memcmp(t.data, u->data, t.nbytes) == 0;
    EXPECT_TRUE(same) << t.name << " differs between the original and the glmq-written imatrix";
    identical += same;
  }
  // llama-quantize records how many entries it loaded; both files must give all of them.
  EXPECT_EQ(qb.get("quantize.imatrix.entries_count").as_int("entries_count"), static_cast<std::int64_t>(m.entries.size()));
  EXPECT_EQ(qa.get("quantize.imatrix.entries_count").as_int("entries_count"), static_cast<std::int64_t>(m.entries.size()));
  std::cout << "[quantize interop] Q4_K with the glmq-written imatrix: " << identical << " of " << qa.tensors().size()
            << " tensors identical to the original imatrix's\n";
}

// The legacy .dat form (llama-imatrix --output-format dat): stored as mean·ncall, read back by llama-quantize as
// value/ncall, and without the expert split, which glmq recovers from the tensor shape as llama-quantize does.
TEST(GgufImatrixInterop, LegacyDatImatrixMatchesLlamaQuantize) {
  GLMQ_REQUIRE_LLAMA_TOOL("llama-quantize");
  const std::string bf16 = converted("bf16");
  ASSERT_FALSE(bf16.empty());
  const std::string dat = llama_imatrix(bf16, "dat");
  ASSERT_FALSE(dat.empty()) << "llama-imatrix failed; see its log in " << kOut;
  const ImportanceMatrix m = read_importance_matrix(dat);
  EXPECT_EQ(m.chunk_count, 8);
  EXPECT_EQ(m.chunk_size, 0);
  const std::string out = llama_quantize(bf16, kOut + "/glm-small-Q4_K-imatrix-dat.gguf", "Q4_K", dat);
  ASSERT_FALSE(out.empty()) << "llama-quantize failed; see " << kOut << "/glm-small-Q4_K-imatrix-dat.gguf.log";
  GgufFile source(bf16), quantized(out);
  Tally tally;
  expect_same_quantization(source, quantized, &m, tally);
  EXPECT_GT(tally.blocks["Q4_K +imatrix"].second, 0u);
  tally.print("llama-quantize --pure --imatrix (legacy .dat) Q4_K");
}

}  // namespace
}  // namespace glmq
