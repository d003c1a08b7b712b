// The GGUF reader and writer: round trips of every metadata type, split shards, and hostile files (wrong magic,
// absurd counts and lengths, offsets past the end, misaligned data, unknown types, missing shards), each of which
// must fail with a Format/Io error naming the problem — never a crash or a silent misread.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>

#include "core/error.h"
#include "formats/ggml_types.h"
#include "formats/gguf_file.h"
#include "formats/gguf_shards.h"
#include "formats/gguf_writer.h"

namespace glmq {
namespace {

// Builds GGUF bytes field by field, so tests can put any value in any field.
struct Bytes {
  std::vector<std::uint8_t> b;
  template <typename T>
  Bytes& put(T v) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
    return *this;
  }
  Bytes& str(const std::string& s) {
    put<std::uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& header(std::int64_t n_tensors, std::int64_t n_kv, std::uint32_t version = 3) {
    return put<std::uint32_t>(kGgufMagic).put<std::uint32_t>(version).put<std::int64_t>(n_tensors).put<std::int64_t>(n_kv);
  }
  Bytes& pad(std::size_t a = 32) {
    while (b.size() % a) b.push_back(0);
    return *this;
  }
};

std::string error_of(const std::vector<std::uint8_t>& bytes) {
  try {
    GgufFile f(bytes.data(), bytes.size(), "test.gguf");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Format) << e.what();
    return e.what();
  }
  return "";
}

// A valid file: one u32 key, one F32 tensor [4, 2] of 32 bytes.
Bytes valid_file() {
  Bytes f;
  f.header(1, 1).str("k").put<std::uint32_t>(4).put<std::uint32_t>(7);
  f.str("t").put<std::uint32_t>(2).put<std::int64_t>(4).put<std::int64_t>(2).put<std::uint32_t>(0).put<std::uint64_t>(0);
  f.pad();
  for (int i = 0; i < 8; ++i) f.put<float>(static_cast<float>(i));
  return f;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::path(testing::TempDir()) / name).string();
}

TEST(GgufReader, ReadsAHandBuiltFile) {
  Bytes f = valid_file();
  GgufFile g(f.b.data(), f.b.size(), "test.gguf");
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.get("k").as_int("k"), 7);
  ASSERT_EQ(g.tensors().size(), 1u);
  const GgufTensor& t = g.tensors()[0];
  EXPECT_EQ(t.ne, (std::vector<std::int64_t>{4, 2}));
  EXPECT_EQ(t.nbytes, 32u);
  EXPECT_EQ(g.data_offset() % 32, 0u);
  EXPECT_EQ(reinterpret_cast<const float*>(t.data)[5], 5.0f);
}

TEST(GgufReader, WriterRoundTripsEveryValueTypeAndAlignment) {
  GgufMetadata md = {
      {"u8", GgufValue::u8(200)},
      {"u16", GgufValue::u16(60000)},
      {"u32", GgufValue::u32(4000000000u)},
      {"i32", GgufValue::i32(-5)},
      {"u64", GgufValue::u64(1ull << 40)},
      {"f32", GgufValue::f32(0.25f)},
      {"b", GgufValue::boolean(true)},
      {"s", GgufValue::string("héllo")},
      {"sa", GgufValue::string_array({"a", "", "ccc"})},
      {"ia", GgufValue::i32_array({1, -2, 3})},
      {"fa", GgufValue::f32_array({0.5f, 1.5f})},
      {"ba", GgufValue::bool_array({true, false, true})},
  };
  // The raw forms the writer helpers do not cover.
  for (GgufType t : {GgufType::I8, GgufType::I16, GgufType::I64, GgufType::F64}) {
    std::vector<std::uint8_t> bytes(gguf_type_size(t), 0);
    bytes[0] = 0xFE;  // −2 for the signed integers when sign-extended (all bytes 0xFF but the first)
    for (std::size_t i = 1; i < bytes.size(); ++i) bytes[i] = 0xFF;
    if (t == GgufType::F64) {
      const double d = 2.5;
      std::memcpy(bytes.data(), &d, 8);
    }
    md.emplace_back(std::string("raw.") + gguf_type_name(t), GgufValue::numeric(t, false, bytes));
  }
  std::vector<std::uint8_t> q8(34 * 2, 0);
  q8[0] = 0x00;
  q8[1] = 0x3C;  // d = 1.0
  q8[2] = 5;
  const float f[3] = {1, 2, 3};
  const std::string path = temp_path("roundtrip.gguf");
  write_gguf(path, md, {{{"w", {64}, 8}, q8.data(), q8.size()}, {{"v", {3, 1}, 0}, f, sizeof f}}, 64);
  GgufFile g(path);
  EXPECT_EQ(g.alignment(), 64u);
  EXPECT_EQ(g.get("u8").as_int("u8"), 200);
  EXPECT_EQ(g.get("u16").as_int("u16"), 60000);
  EXPECT_EQ(g.get("u32").as_int("u32"), 4000000000ll);
  EXPECT_EQ(g.get("i32").as_int("i32"), -5);
  EXPECT_EQ(g.get("u64").as_int("u64"), 1ll << 40);
  EXPECT_EQ(g.get("f32").as_double("f32"), 0.25);
  EXPECT_TRUE(g.get("b").as_bool("b"));
  EXPECT_EQ(g.get("s").as_string("s"), "héllo");
  EXPECT_EQ(g.get("sa").as_string_array("sa"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(g.get("ia").as_int_array("ia"), (std::vector<std::int64_t>{1, -2, 3}));
  EXPECT_EQ(g.get("fa").as_double_array("fa"), (std::vector<double>{0.5, 1.5}));
  EXPECT_EQ(g.get("ba").as_bool_array("ba"), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(g.get("raw.INT8").as_int("x"), -2);
  EXPECT_EQ(g.get("raw.INT16").as_int("x"), -2);
  EXPECT_EQ(g.get("raw.INT64").as_int("x"), -2);
  EXPECT_EQ(g.get("raw.FLOAT64").as_double("x"), 2.5);
  ASSERT_EQ(g.tensors().size(), 2u);
  EXPECT_EQ(g.find_tensor("w")->ggml_type, 8u);
  EXPECT_EQ(g.find_tensor("w")->data[2], 5);
  EXPECT_EQ(g.find_tensor("v")->offset, 128u);  // 68 bytes padded to 64
  EXPECT_EQ(reinterpret_cast<const float*>(g.find_tensor("v")->data)[2], 3.0f);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(g.find_tensor("v")->data) % 64, 0u);
  // Wrong-typed access names the key.
  try {
    g.get("s").as_int("s");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("'s'"), std::string::npos);
  }
}

TEST(GgufReader, EveryTruncationFailsCleanly) {
  const Bytes f = valid_file();
  for (std::size_t n = 0; n < f.b.size(); ++n) {
    std::vector<std::uint8_t> cut(f.b.begin(), f.b.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_NE(error_of(cut), "") << "prefix of " << n << " bytes was accepted";
  }
}

// Random corruption of a writer-made file (several value types, block tensors, 64-byte alignment): each parse either
// throws a Format error or gives tensors whose bytes lie inside the buffer. (tests/fuzz/ has the libFuzzer target.)
TEST(GgufReader, RandomCorruptionFailsCleanlyOrStaysInBounds) {
  const std::string path = (std::filesystem::temp_directory_path() / "glmq_gguf_corruption_base.gguf").string();
  std::vector<std::uint8_t> q8(4 * 34, 0x11);
  const std::vector<float> f32 = {1, 2, 3, 4, 5, 6, 7, 8};
  write_gguf(path,
             {{"s", GgufValue::string("text")},
              {"sa", GgufValue::string_array({"a", "bb"})}, {"ia", GgufValue::i32_array({1, 2, 3})},
              {"f", GgufValue::f32(0.5f)}, {"u64", GgufValue::u64(9)}},
             {{{"q", {64, 2}, *ggml_type_from_name("Q8_0")}, q8.data(), q8.size()},
              {{"w", {4, 2}, *ggml_type_from_name("F32")}, f32.data(), f32.size() * 4}},
             64);
  std::vector<std::uint8_t> base;
  {
    std::ifstream in(path, std::ios::binary);
    base.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::filesystem::remove(path);
  ASSERT_GT(base.size(), 200u);
  std::mt19937 rng(99);
  int errors = 0, parsed = 0;
  for (int i = 0; i < 5000; ++i) {
    std::vector<std::uint8_t> m = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t pos = rng() % m.size();
      // Half the edits hit the header, metadata and tensor infos (the first 200 bytes), where the parsing is.
      m[rng() % 2 ? pos : pos % 200] = static_cast<std::uint8_t>(rng() % 256);
    }
    if (rng() % 5 == 0) m.resize(rng() % m.size());
    try {
      const GgufFile f(m.data(), m.size(), "corrupt.gguf");
      for (const auto& t : f.tensors()) {
        ASSERT_GE(t.data, m.data()) << t.name;
        ASSERT_LE(t.data + t.nbytes, m.data() + m.size()) << t.name;
      }
      ++parsed;
    } catch (const Error& e) {
      ASSERT_TRUE(e.kind() == ErrorKind::Format || e.kind() == ErrorKind::Config) << e.what();
      ++errors;
    }
  }
  EXPECT_GT(errors, 1000);
  EXPECT_GT(parsed, 100);  // edits of tensor bytes leave a valid file
}

TEST(GgufReader, RejectsHostileHeaders) {
  auto expect = [](const Bytes& f, const std::string& needle) {
    const std::string e = error_of(f.b);
    EXPECT_NE(e.find(needle), std::string::npos) << "error was: " << e;
  };
  Bytes bad_magic = valid_file();
  bad_magic.b[0] = 'X';
  expect(bad_magic, "magic");
  Bytes v1 = valid_file();
  v1.b[4] = 1;
  expect(v1, "version 1");
  Bytes be = valid_file();
  be.b[4] = 0;
  be.b[7] = 3;
  expect(be, "big-endian");
  expect(Bytes().header(0, 1ll << 60).pad(64), "metadata count");
  expect(Bytes().header(-1, 0).pad(64), "tensor count");
  expect(Bytes().header(0, 1).put<std::uint64_t>(1ull << 62).pad(64), "length");
  expect(Bytes().header(0, 1).str("k").put<std::uint32_t>(9).put<std::uint32_t>(4).put<std::uint64_t>(1ull << 40).pad(64), "2^30");
  expect(Bytes().header(0, 1).str("k").put<std::uint32_t>(9).put<std::uint32_t>(4).put<std::uint64_t>(1000).pad(64), "truncated");
  expect(Bytes().header(0, 1).str("k").put<std::uint32_t>(9).put<std::uint32_t>(9).put<std::uint64_t>(1).pad(64), "arrays of arrays");
  expect(Bytes().header(0, 1).str("k").put<std::uint32_t>(13).put<std::uint64_t>(0).pad(64), "type 13");
  expect(Bytes().header(0, 2).str("k").put<std::uint32_t>(0).put<std::uint8_t>(1).str("k").put<std::uint32_t>(0).put<std::uint8_t>(1).pad(64),
         "twice");
  expect(Bytes().header(0, 1).str("").put<std::uint32_t>(0).put<std::uint8_t>(1).pad(64), "empty");
  expect(Bytes().header(0, 1).str("general.alignment").put<std::uint32_t>(5).put<std::int32_t>(32).pad(64), "UINT32");
  expect(Bytes().header(0, 1).str("general.alignment").put<std::uint32_t>(4).put<std::uint32_t>(24).pad(64), "power of two");
}

TEST(GgufReader, RejectsHostileTensorInfos) {
  auto tensor = [](const std::string& name, std::vector<std::int64_t> ne, std::uint32_t type, std::uint64_t offset) {
    Bytes f;
    f.header(1, 0).str(name).put<std::uint32_t>(static_cast<std::uint32_t>(ne.size()));
    for (auto d : ne) f.put<std::int64_t>(d);
    f.put<std::uint32_t>(type).put<std::uint64_t>(offset).pad();
    for (int i = 0; i < 64; ++i) f.put<std::uint8_t>(0);
    return f;
  };
  auto expect = [](const Bytes& f, const std::string& needle) {
    const std::string e = error_of(f.b);
    EXPECT_NE(e.find(needle), std::string::npos) << "error was: " << e;
  };
  expect(tensor(std::string(64, 'x'), {4}, 0, 0), "expected 1-63");
  expect(tensor("t", {1, 1, 1, 1, 1}, 0, 0), "dimensions");
  expect(tensor("t", {-4}, 0, 0), "negative");
  expect(tensor("t", {1ll << 40, 1ll << 40}, 0, 0), "64 bits");
  expect(tensor("t", {32}, 4, 0), "unknown ggml type id 4");  // removed Q4_2
  expect(tensor("t", {32}, 99, 0), "unknown ggml type id 99");
  expect(tensor("t", {48}, 8, 0), "not a multiple of its block size 32");
  expect(tensor("t", {4}, 0, 32), "expected 0");          // offsets must be the running padded sum
  expect(tensor("t", {4}, 0, 3), "expected 0");           // misaligned
  expect(tensor("t", {1000}, 0, 0), "past the end");      // 4000 bytes in a 64-byte data section
  Bytes dup;
  dup.header(2, 0);
  for (int i = 0; i < 2; ++i) dup.str("t").put<std::uint32_t>(1).put<std::int64_t>(4).put<std::uint32_t>(0).put<std::uint64_t>(i * 32);
  dup.pad();
  for (int i = 0; i < 64; ++i) dup.put<std::uint8_t>(0);
  expect(dup, "appears twice");
}

TEST(GgufReader, MissingFileIsAnIoError) {
  try {
    GgufFile f(temp_path("does-not-exist.gguf"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
  }
}

void write_shards(const std::string& prefix, int count, int total_tensors, bool tensors_in_first) {
  static const float data[4] = {1, 2, 3, 4};
  int name = 0;
  for (int i = 0; i < count; ++i) {
    GgufMetadata md;
    if (i == 0) md.emplace_back("general.architecture", GgufValue::string("test"));
    md.emplace_back("split.no", GgufValue::u16(static_cast<std::uint16_t>(i)));
    md.emplace_back("split.count", GgufValue::u16(static_cast<std::uint16_t>(count)));
    md.emplace_back("split.tensors.count", GgufValue::i32(total_tensors));
    std::vector<GgufTensorData> ts;
    if (i > 0 || tensors_in_first)
      for (int k = 0; k < 2; ++k, ++name) ts.push_back({{"t" + std::to_string(name), {4}, 0}, data, sizeof data});
    write_gguf(gguf_shard_path(prefix, i, count), md, ts);
  }
}

TEST(GgufShards, OpensAllShardsFromTheFirst) {
  const std::string prefix = temp_path("model");
  write_shards(prefix, 3, 4, false);  // first shard: metadata only
  GgufShards s(gguf_shard_path(prefix, 0, 3));
  EXPECT_EQ(s.files().size(), 3u);
  EXPECT_EQ(s.names(), (std::vector<std::string>{"t0", "t1", "t2", "t3"}));
  EXPECT_EQ(reinterpret_cast<const float*>(s.get("t3").data)[3], 4.0f);
  EXPECT_EQ(s.metadata_file().get("general.architecture").as_string("a"), "test");
  EXPECT_EQ(s.unused_names(), (std::vector<std::string>{"t0", "t1", "t2"}));
}

TEST(GgufShards, RejectsMissingWrongAndMiscountedShards) {
  auto kind_of = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::Capacity;  // "no error"
  };
  const std::string a = temp_path("missing");
  write_shards(a, 3, 4, false);
  std::filesystem::remove(gguf_shard_path(a, 2, 3));
  EXPECT_EQ(kind_of([&] { GgufShards s(gguf_shard_path(a, 0, 3)); }), ErrorKind::Io);
  const std::string b = temp_path("second");
  write_shards(b, 2, 2, false);
  EXPECT_EQ(kind_of([&] { GgufShards s(gguf_shard_path(b, 1, 2)); }), ErrorKind::InvalidArgument);
  const std::string c = temp_path("miscount");
  write_shards(c, 2, 5, true);
  EXPECT_EQ(kind_of([&] { GgufShards s(gguf_shard_path(c, 0, 2)); }), ErrorKind::Format);
  const std::string d = temp_path("renamed");
  write_shards(d, 2, 4, true);
  std::filesystem::rename(gguf_shard_path(d, 0, 2), d + ".gguf");
  EXPECT_EQ(kind_of([&] { GgufShards s(d + ".gguf"); }), ErrorKind::InvalidArgument);
}

TEST(GgmlTypes, GeometryAndNames) {
  EXPECT_EQ(ggml_type_from_name("iq2_s"), 22u);
  EXPECT_EQ(ggml_type_name(12), "Q4_K");
  for (std::uint32_t id = 0; id < 45; ++id) {
    auto wt = weight_type_from_ggml(id);
    if (!wt) continue;
    EXPECT_EQ(ggml_id_of(*wt), id);
    EXPECT_EQ(weight_block_size(*wt), ggml_type_info(id)->block_size) << id;
    EXPECT_EQ(weight_block_bytes(*wt), ggml_type_info(id)->block_bytes) << id;
  }
  EXPECT_DOUBLE_EQ(weight_bits_per_weight(WeightType::IQ2_S), 2.5625);
  EXPECT_EQ(weight_row_bytes(WeightType::Q4_K, 512), 288u);
}

}  // namespace
}  // namespace glmq
