// imatrix file I/O: GGUF write → read, the legacy .dat layout, llama-quantize's quant_weights, typed errors for
// corrupt files, and a fuzz-style pass over mutated bytes (every outcome must be an entry set or a glmq::Error).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/gguf_writer.h"
#include "quant/importance_matrix.h"

namespace glmq {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("glmq_imatrix_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::vector<std::uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Two entries as llama-imatrix makes them: a dense weight and an expert tensor with one expert never routed to.
ImportanceMatrix sample_matrix() {
  ImportanceMatrix m;
  m.datasets = {"wiki.train.raw", "code.txt"};
  m.chunk_count = 12;
  m.chunk_size = 512;
  ImportanceEntry dense;
  dense.n_experts = 1;
  dense.cols = 4;
  dense.sum_sq = {8.0f, 2.0f, 0.5f, 1e-3f};
  dense.counts = {4.0f};
  m.entries["blk.0.attn_q_a.weight"] = dense;
  ImportanceEntry experts;
  experts.n_experts = 3;
  experts.cols = 2;
  experts.sum_sq = {3.0f, 6.0f, 0.0f, 0.0f, 7.5f, 2.5f};
  experts.counts = {3.0f, 0.0f, 2.6f};  // a fractional count is rounded (lround) before dividing
  m.entries["blk.1.ffn_up_exps.weight"] = experts;
  return m;
}

void expect_same(const ImportanceMatrix& a, const ImportanceMatrix& b) {
  EXPECT_EQ(a.datasets, b.datasets);
  EXPECT_EQ(a.chunk_count, b.chunk_count);
  EXPECT_EQ(a.chunk_size, b.chunk_size);
  ASSERT_EQ(a.entries.size(), b.entries.size());
  for (const auto& [name, e] : a.entries) {
    const ImportanceEntry* f = b.find(name);
    ASSERT_TRUE(f) << name;
    EXPECT_EQ(f->n_experts, e.n_experts) << name;
    EXPECT_EQ(f->cols, e.cols) << name;
    EXPECT_EQ(f->sum_sq, e.sum_sq) << name;
    EXPECT_EQ(f->counts, e.counts) << name;
  }
}

TEST(ImportanceMatrix, GgufWriteReadRoundTrip) {
  const std::string path = temp_path("roundtrip.gguf");
  const ImportanceMatrix m = sample_matrix();
  write_importance_matrix(path, m);
  expect_same(m, read_importance_matrix(path));
  EXPECT_EQ(read_importance_matrix(path).find("blk.9.ffn_up_exps.weight"), nullptr);
  std::filesystem::remove(path);
}

TEST(ImportanceMatrix, QuantWeightsAreMeansWithRoundedCounts) {
  const ImportanceMatrix m = sample_matrix();
  EXPECT_EQ(m.find("blk.0.attn_q_a.weight")->quant_weights(0), (std::vector<float>{2.0f, 0.5f, 0.125f, 1e-3f / 4}));
  const ImportanceEntry& e = *m.find("blk.1.ffn_up_exps.weight");
  EXPECT_EQ(e.quant_weights(0), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(e.quant_weights(1), (std::vector<float>{1.0f, 1.0f}));  // never routed to: all ones
  EXPECT_EQ(e.quant_weights(2), (std::vector<float>{2.5f, 2.5f / 3.0f}));
  EXPECT_THROW(e.quant_weights(3), Error);
  // What llama-quantize hands the quantizer for the tensor: every expert's slice, in expert order.
  EXPECT_EQ(tensor_quant_weights(e, "blk.1.ffn_up_exps.weight", 2, 3),
            (std::vector<float>{1.0f, 2.0f, 1.0f, 1.0f, 2.5f, 2.5f / 3.0f}));
  // llama-imatrix collapses a 3-D dense weight (attn_k_b: heads × [cols]) to one count: slices of the one row.
  const ImportanceEntry& dense = *m.find("blk.0.attn_q_a.weight");
  EXPECT_EQ(tensor_quant_weights(dense, "blk.0.attn_k_b.weight", 2, 2), (std::vector<float>{2.0f, 0.5f, 0.125f, 1e-3f / 4}));
  try {
    tensor_quant_weights(e, "blk.1.ffn_up_exps.weight", 4, 3);
    FAIL() << "6 values cannot serve 4 × 3";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::Shape);
    EXPECT_NE(std::string(err.what()).find("blk.1.ffn_up_exps.weight"), std::string::npos) << err.what();
  }
}

// Legacy .dat bytes as save_imatrix_legacy writes them.
struct LegacyBuilder {
  std::vector<std::uint8_t> b;
  void i32(std::int32_t v) { append(&v, 4); }
  void f32(float v) { append(&v, 4); }
  void str(const std::string& s) {
    i32(static_cast<std::int32_t>(s.size()));
    append(s.data(), s.size());
  }
  void append(const void* p, std::size_t n) {
    const auto* c = static_cast<const std::uint8_t*>(p);
    b.insert(b.end(), c, c + n);
  }
};

std::vector<std::uint8_t> sample_legacy() {
  LegacyBuilder l;
  l.i32(2);
  l.str("blk.0.attn_output.weight");
  l.i32(3);  // ncall
  l.i32(2);  // nval
  l.f32(6.0f);
  l.f32(1.5f);
  l.str("blk.1.ffn_down_exps.weight");
  l.i32(0);  // ncall 0: llama-quantize uses the values unchanged
  l.i32(1);
  l.f32(0.25f);
  l.i32(7);  // chunks
  l.str("calibration.txt");
  return l.b;
}

TEST(ImportanceMatrix, ReadsLegacyDat) {
  const std::vector<std::uint8_t> bytes = sample_legacy();
  const ImportanceMatrix m = parse_importance_matrix(bytes.data(), bytes.size(), "sample.dat");
  EXPECT_EQ(m.chunk_count, 7);
  EXPECT_EQ(m.chunk_size, 0);
  EXPECT_EQ(m.datasets, (std::vector<std::string>{"calibration.txt"}));
  ASSERT_EQ(m.entries.size(), 2u);
  const ImportanceEntry& a = *m.find("blk.0.attn_output.weight");
  EXPECT_EQ(a.n_experts, 1);
  EXPECT_EQ(a.cols, 2);
  EXPECT_EQ(a.quant_weights(0), (std::vector<float>{2.0f, 0.5f}));
  EXPECT_EQ(m.find("blk.1.ffn_down_exps.weight")->quant_weights(0), (std::vector<float>{0.25f}));
  // Without the optional trailer.
  const std::vector<std::uint8_t> bare(bytes.begin(), bytes.end() - 4 - 4 - 15);
  const ImportanceMatrix n = parse_importance_matrix(bare.data(), bare.size(), "bare.dat");
  EXPECT_EQ(n.chunk_count, 0);
  EXPECT_TRUE(n.datasets.empty());
  EXPECT_EQ(n.entries.size(), 2u);
}

void expect_format_error(const std::vector<std::uint8_t>& bytes, const std::string& needle) {
  try {
    parse_importance_matrix(bytes.data(), bytes.size(), "bad.imatrix");
    FAIL() << "expected an error mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Format) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.imatrix"), std::string::npos) << e.what();
  }
}

TEST(ImportanceMatrix, CorruptLegacyFilesAreFormatErrors) {
  expect_format_error({}, "empty");
  std::vector<std::uint8_t> bytes = sample_legacy();
  expect_format_error(std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 40), "truncated");
  std::vector<std::uint8_t> huge_count = bytes;
  huge_count[0] = 0xFF;
  huge_count[3] = 0x7F;
  expect_format_error(huge_count, "entry count");
  std::vector<std::uint8_t> bad_nval = bytes;
  const std::int32_t minus_one = -1;
  std::memcpy(bad_nval.data() + 4 + 4 + 24 + 4, &minus_one, 4);
  expect_format_error(bad_nval, "values");
  std::vector<std::uint8_t> trailing = bytes;
  trailing.push_back(0);
  expect_format_error(trailing, "unexpected bytes");
}

TEST(ImportanceMatrix, CorruptGgufFilesAreFormatErrors) {
  const std::string path = temp_path("corrupt.gguf");
  // A model file is no imatrix.
  write_gguf(path, {{"general.type", GgufValue::string("model")}}, {});
  EXPECT_THROW(
      {
        try {
          read_importance_matrix(path);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("'model'"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
  const GgufMetadata meta = {{"general.type", GgufValue::string("imatrix")},
                             {"imatrix.datasets", GgufValue::string_array({"x"})},
                             {"imatrix.chunk_count", GgufValue::u32(1)},
                             {"imatrix.chunk_size", GgufValue::u32(512)}};
  const float sums[4] = {1, 2, 3, 4};
  const float counts[2] = {1, 1};
  auto f32 = [](const std::string& name, std::vector<std::int64_t> ne, const float* p, std::size_t n) {
    return GgufTensorData{{name, std::move(ne), 0}, p, 4 * n};
  };
  auto expect_error = [&](const std::vector<GgufTensorData>& tensors, const GgufMetadata& m, const std::string& needle) {
    write_gguf(path, m, tensors);
    try {
      read_importance_matrix(path);
      FAIL() << "expected an error mentioning '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Format) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error({f32("w.in_sum2", {2, 2}, sums, 4)}, meta, "w.counts");
  expect_error({f32("w.in_sum2", {4}, sums, 4), f32("w.counts", {1, 2}, counts, 2), f32("w.in_sum", {3}, sums, 3)}, meta,
               "must match");
  expect_error({f32("w.in_sum2", {3}, sums, 3), f32("w.counts", {1, 2}, counts, 2)}, meta, "multiple of 2");
  const float nan_count[2] = {1, std::nanf("")};
  expect_error({f32("w.in_sum2", {2, 2}, sums, 4), f32("w.counts", {1, 2}, nan_count, 2)}, meta, "token count");
  expect_error({}, meta, "no entries");
  GgufMetadata no_size(meta.begin(), meta.end() - 1);
  expect_error({f32("w.in_sum2", {2, 2}, sums, 4), f32("w.counts", {1, 2}, counts, 2)}, no_size, "imatrix.chunk_size");
  const std::uint16_t half_sums[4] = {0x3c00, 0x3c00, 0x3c00, 0x3c00};
  expect_error({{{"w.in_sum2", {2, 2}, 1}, half_sums, 8}, f32("w.counts", {1, 2}, counts, 2)}, meta, "expected F32");
  std::filesystem::remove(path);
  try {
    read_importance_matrix(path);
    FAIL() << "the file was removed";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
  }
}

// Mutated files must come back as entries or as glmq::Error — never a crash, a hang or another exception.
void fuzz(const std::vector<std::uint8_t>& valid, std::uint64_t seed, int rounds, int& parsed, int& rejected) {
  std::uint64_t s = seed;
  auto next = [&s]() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return s >> 33;
  };
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::uint8_t> b = valid;
    switch (next() % 4) {
      case 0:  // flip a few bytes
        for (std::uint64_t k = 0, n = 1 + next() % 8; k < n; ++k) b[next() % b.size()] ^= static_cast<std::uint8_t>(1 + next() % 255);
        break;
      case 1:  // truncate
        b.resize(next() % b.size());
        break;
      case 2:  // overwrite 4 bytes with a large or negative count-like value
      {
        const std::size_t at = next() % (b.size() - 4);
        const std::uint32_t v = next() % 2 ? 0xFFFFFFFFu - static_cast<std::uint32_t>(next() % 16) : 0x7FFFFFF0u;
        std::memcpy(b.data() + at, &v, 4);
        break;
      }
      default:  // duplicate a slice into the middle
      {
        const std::size_t at = next() % b.size(), n = next() % 64;
        std::vector<std::uint8_t> slice(b.begin() + static_cast<std::ptrdiff_t>(at),
                                        b.begin() + static_cast<std::ptrdiff_t>(std::min(b.size(), at + n)));
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(next() % b.size()), slice.begin(), slice.end());
      }
    }
    try {
      const ImportanceMatrix m = parse_importance_matrix(b.data(), b.size(), "fuzz");
      for (const auto& [name, e] : m.entries) {
        ASSERT_EQ(static_cast<std::int64_t>(e.sum_sq.size()), e.n_experts * e.cols) << name;
        for (std::int64_t x = 0; x < e.n_experts; ++x) ASSERT_EQ(static_cast<std::int64_t>(e.quant_weights(x).size()), e.cols);
      }
      ++parsed;
    } catch (const Error&) {
      ++rejected;
    }
  }
}

TEST(ImportanceMatrix, MutatedBytesParseOrFailCleanly) {
  const std::string path = temp_path("fuzz.gguf");
  write_importance_matrix(path, sample_matrix());
  const std::vector<std::uint8_t> gguf = file_bytes(path);
  std::filesystem::remove(path);
  int parsed = 0, rejected = 0;
  fuzz(gguf, 1, 3000, parsed, rejected);
  fuzz(sample_legacy(), 2, 3000, parsed, rejected);
  EXPECT_EQ(parsed + rejected, 6000);
  EXPECT_GT(rejected, 1000);  // most mutations hit structure
  EXPECT_GT(parsed, 100);     // and some only touch values or names
}

TEST(ImportanceMatrix, WriterRejectsInconsistentEntries) {
  ImportanceMatrix m = sample_matrix();
  m.entries["blk.0.attn_q_a.weight"].counts.push_back(1.0f);
  try {
    write_importance_matrix(temp_path("never.gguf"), m);
    FAIL() << "2 counts for 1 expert";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("blk.0.attn_q_a.weight"), std::string::npos) << e.what();
  }
  EXPECT_THROW(write_importance_matrix(temp_path("never.gguf"), ImportanceMatrix{}), Error);
}

}  // namespace
}  // namespace glmq
