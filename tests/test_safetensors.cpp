// The safetensors reader accepts valid files and rejects every kind of corruption with a typed error.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "formats/safetensors.h"
#include "formats/tensor_store.h"

namespace glmq {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("glmq_st_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes a raw file: 8-byte header length, header text, then `data_bytes` zero bytes.
  std::string raw(const std::string& name, const std::string& header, std::size_t data_bytes, std::int64_t length_override = -1) {
    std::string p = path(name);
    std::ofstream out(p, std::ios::binary);
    std::uint64_t len = length_override >= 0 ? static_cast<std::uint64_t>(length_override) : header.size();
    out.write(reinterpret_cast<const char*>(&len), 8);
    out << header;
    std::string zeros(data_bytes, '\0');
    out << zeros;
    return p;
  }

  static ErrorKind kind_of(const std::string& p) {
    try {
      SafetensorsFile f(p);
    } catch (const Error& e) {
      return e.kind();
    }
    ADD_FAILURE() << "expected an error for " << p;
    return ErrorKind::InvalidArgument;
  }

  fs::path dir_;
};

TEST_F(SafetensorsTest, WritesAndReadsBack) {
  std::vector<float> a{1, 2, 3, 4, 5, 6};
  std::vector<std::uint16_t> b{0x3f80, 0x4000};
  write_safetensors(path("ok.safetensors"), {{"a", {2, 3}, FileDType::F32, a.data(), a.size() * 4},
                                             {"b", {2}, FileDType::BF16, b.data(), b.size() * 2}});
  SafetensorsFile f(path("ok.safetensors"));
  ASSERT_EQ(f.tensors().size(), 2u);
  for (const auto& t : f.tensors()) {
    if (t.name == "a") {
      EXPECT_EQ(t.shape, (std::vector<std::int64_t>{2, 3}));
      EXPECT_EQ(reinterpret_cast<const float*>(t.data)[5], 6.0f);
    } else {
      EXPECT_EQ(t.dtype, FileDType::BF16);
      EXPECT_EQ(reinterpret_cast<const std::uint16_t*>(t.data)[1], 0x4000);
    }
  }
}

TEST_F(SafetensorsTest, RejectsShortFile) {
  std::ofstream(path("short")) << "abc";
  EXPECT_EQ(kind_of(path("short")), ErrorKind::Format);
}

TEST_F(SafetensorsTest, RejectsHeaderLongerThanFile) {
  EXPECT_EQ(kind_of(raw("long", "{}", 0, 1000)), ErrorKind::Format);
}

TEST_F(SafetensorsTest, RejectsBadJson) {
  EXPECT_EQ(kind_of(raw("json", "{\"a\": [1,2", 0)), ErrorKind::Format);
  EXPECT_EQ(kind_of(raw("array", "[1,2]", 0)), ErrorKind::Format);
  // A number too large for a double is nlohmann's out_of_range, not a parse_error (found by tests/fuzz/).
  EXPECT_EQ(kind_of(raw("overflow", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,1e999]}})", 4)), ErrorKind::Format);
}

TEST_F(SafetensorsTest, RejectsUnknownDtype) {
  EXPECT_EQ(kind_of(raw("dt", R"({"w":{"dtype":"Q9","shape":[2],"data_offsets":[0,2]}})", 2)), ErrorKind::DType);
}

TEST_F(SafetensorsTest, RejectsSizeMismatch) {
  EXPECT_EQ(kind_of(raw("sz", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)), ErrorKind::Shape);
}

TEST_F(SafetensorsTest, RejectsTruncatedData) {
  EXPECT_EQ(kind_of(raw("tr", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 10)), ErrorKind::Format);
}

TEST_F(SafetensorsTest, RejectsOverlapAndBadOffsets) {
  EXPECT_EQ(kind_of(raw("ov", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12)),
            ErrorKind::Format);
  EXPECT_EQ(kind_of(raw("neg", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)), ErrorKind::Format);
  EXPECT_EQ(kind_of(raw("rev", R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8)), ErrorKind::Format);
  EXPECT_EQ(kind_of(raw("miss", R"({"a":{"dtype":"F32","shape":[2]}})", 8)), ErrorKind::Format);
  EXPECT_EQ(kind_of(raw("huge", R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8)),
            ErrorKind::Format);
}

TEST_F(SafetensorsTest, CopiesMisalignedTensorsSoKernelsMayReadThem) {
  // Header of odd length puts the data section at an odd address.
  std::string header = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  std::string p = raw("mis", header, 4);
  SafetensorsFile f(p);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(f.tensors()[0].data) % 4, 0u);
}

// Random corruption of a valid file must produce glmq::Error or a valid parse, never a crash.
TEST_F(SafetensorsTest, FuzzedHeadersNeverCrash) {
  std::vector<float> a(16, 1.0f);
  write_safetensors(path("base"), {{"layer.weight", {4, 4}, FileDType::F32, a.data(), a.size() * 4}});
  std::ifstream in(path("base"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::mt19937 rng(1234);
  int errors = 0, parsed = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string mutated = bytes;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      std::size_t pos = rng() % mutated.size();
      mutated[pos] = static_cast<char>(rng() % 256);
    }
    if (rng() % 5 == 0) mutated.resize(rng() % mutated.size());
    std::string p = path("fuzz");
    std::ofstream(p, std::ios::binary | std::ios::trunc) << mutated;
    try {
      SafetensorsFile f(p);
      ++parsed;
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_EQ(errors + parsed, 2000);
}

TEST_F(SafetensorsTest, ShardedIndexResolvesAndChecksShards) {
  std::vector<float> a{1, 2}, b{3, 4};
  write_safetensors(path("model-00001-of-00002.safetensors"), {{"a", {2}, FileDType::F32, a.data(), 8}});
  write_safetensors(path("model-00002-of-00002.safetensors"), {{"b", {2}, FileDType::F32, b.data(), 8}});
  std::ofstream(path("model.safetensors.index.json"))
      << R"({"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})";
  TensorStore store = TensorStore::open_hf_dir(dir_.string());
  EXPECT_EQ(reinterpret_cast<const float*>(store.get("b").data)[1], 4.0f);
  EXPECT_THROW(store.get("c"), Error);
  std::ofstream(path("model.safetensors.index.json"), std::ios::trunc)
      << R"({"weight_map":{"a":"model-00002-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})";
  EXPECT_THROW(TensorStore::open_hf_dir(dir_.string()), Error);
  std::ofstream(path("model.safetensors.index.json"), std::ios::trunc) << R"({"weight_map":{"a":"../x"}})";
  EXPECT_THROW(TensorStore::open_hf_dir(dir_.string()), Error);
}

}  // namespace
}  // namespace glmq
