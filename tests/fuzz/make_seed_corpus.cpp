// Writes the fuzzers' seed corpus: small valid GGUF and safetensors files made by glmq's own writers, covering every
// GGUF metadata value type, a custom alignment, split-shard keys, float and GGML block tensors, and safetensors
// files with several dtypes. libFuzzer mutates from these, so it starts inside the formats instead of at random.
//
// Usage: fuzz_seed_corpus OUT_DIR  (writes OUT_DIR/gguf/*.gguf and OUT_DIR/safetensors/*.safetensors)
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/ggml_types.h"
#include "formats/gguf_writer.h"
#include "formats/safetensors.h"

namespace {

namespace fs = std::filesystem;
using glmq::GgufValue;

glmq::GgufMetadata every_value_type() {
  return {{"general.architecture", GgufValue::string("glm-dsa")},
          {"test.u8", GgufValue::u8(7)},
          {"test.u16", GgufValue::u16(300)},
          {"test.u32", GgufValue::u32(70000)},
          {"test.i32", GgufValue::i32(-5)},
          {"test.u64", GgufValue::u64(1ull << 40)},
          {"test.f32", GgufValue::f32(0.5f)},
          {"test.bool", GgufValue::boolean(true)},
          {"test.strings", GgufValue::string_array({"a", "bc", ""})},
          {"test.i32s", GgufValue::i32_array({1, -2, 3})},
          {"test.f32s", GgufValue::f32_array({1.5f, -2.5f})},
          {"test.bools", GgufValue::bool_array({true, false, true})}};
}

std::vector<std::uint8_t> ramp(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i * 37 + 11);
  return v;
}

void write_gguf_seeds(const fs::path& dir) {
  const std::vector<float> f32 = {0, 1, 2, 3, 4, 5, 6, 7};
  const auto q8_0 = ramp(2 * 34), q5_0 = ramp(2 * 22), iq4_nl = ramp(18), q4_k = ramp(144);
  auto id = [](const char* name) { return *glmq::ggml_type_from_name(name); };
  glmq::write_gguf((dir / "metadata_only.gguf").string(), every_value_type(), {});
  glmq::write_gguf((dir / "tensors.gguf").string(), every_value_type(),
                   {{{"t.f32", {4, 2}, id("F32")}, f32.data(), f32.size() * 4},
                    {{"t.q8_0", {32, 2}, id("Q8_0")}, q8_0.data(), q8_0.size()},
                    {{"t.q5_0", {64, 1}, id("Q5_0")}, q5_0.data(), q5_0.size()},
                    {{"t.iq4_nl", {32, 1, 1}, id("IQ4_NL")}, iq4_nl.data(), iq4_nl.size()},
                    {{"t.q4_k", {256}, id("Q4_K")}, q4_k.data(), q4_k.size()}});
  glmq::write_gguf((dir / "aligned64.gguf").string(), {{"test.name", GgufValue::string("aligned")}},
                   {{{"a", {4, 2}, id("F32")}, f32.data(), f32.size() * 4}, {{"b", {8}, id("F32")}, f32.data(), f32.size() * 4}},
                   64);  // the writer adds general.alignment
  glmq::write_gguf((dir / "split_shard.gguf").string(),
                   {{"split.no", GgufValue::u16(0)}, {"split.count", GgufValue::u16(2)}, {"split.tensors.count", GgufValue::i32(2)}},
                   {{{"blk.0.attn_norm.weight", {8}, id("F32")}, f32.data(), f32.size() * 4}});
}

void write_safetensors_seeds(const fs::path& dir) {
  const std::vector<float> f32 = {0, 1, 2, 3, 4, 5, 6, 7};
  const std::vector<std::uint16_t> half = {0x3C00, 0x4000, 0xC000, 0x0000};
  glmq::write_safetensors((dir / "one.safetensors").string(), {{"w", {2, 4}, glmq::FileDType::F32, f32.data(), 32}});
  glmq::write_safetensors((dir / "mixed.safetensors").string(),
                          {{"model.layers.0.w", {4, 2}, glmq::FileDType::F32, f32.data(), 32},
                           {"model.layers.0.h", {4}, glmq::FileDType::F16, half.data(), 8},
                           {"model.layers.0.b", {2, 2}, glmq::FileDType::BF16, half.data(), 8},
                           {"scalar", {}, glmq::FileDType::F32, f32.data(), 4}});
  glmq::write_safetensors((dir / "empty.safetensors").string(), {});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  try {
    const fs::path out = argv[1];
    fs::create_directories(out / "gguf");
    fs::create_directories(out / "safetensors");
    write_gguf_seeds(out / "gguf");
    write_safetensors_seeds(out / "safetensors");
  } catch (const glmq::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
