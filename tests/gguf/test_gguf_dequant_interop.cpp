// Interop with PyPI gguf (gguf-py): glmq's GGUF reader opens a file gguf-py's GGUFWriter made, and glmq's
// dequantizer reproduces gguf.quants.dequantize bit for bit for every GGML block type glmq computes with.
// With GLMQ_LLAMA_BIN set (llama.cpp's tools), the blocks are also made by llama-quantize (see gguf_llama_interop).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "formats/ggml_types.h"
#include "formats/gguf_file.h"
#include "quant/ggml_dequantize.h"

namespace glmq {
namespace {

TEST(GgufInterop, DequantizeMatchesGgufPyBitForBit) {
  const std::string out = std::string(GLMQ_BINARY_DIR) + "/gguf_dequant_reference.gguf";
  const std::string cmd = "python3 " + std::string(GLMQ_SOURCE_DIR) + "/tests/gguf/gguf_dequant_reference.py " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "running " << cmd << " (needs: pip install -r tests/interop/requirements.txt)";
  GgufFile f(out);
  int types = 0;
  for (const auto& t : f.tensors()) {
    const std::string suffix = ".blocks";
    if (t.name.size() < suffix.size() || t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string type_name = t.name.substr(0, t.name.size() - suffix.size());
    auto type = weight_type_from_ggml(t.ggml_type);
    ASSERT_TRUE(type) << t.name;
    EXPECT_EQ(weight_type_name(*type), type_name);
    const GgufTensor* want = f.find_tensor(type_name + ".want");
    ASSERT_TRUE(want);
    ASSERT_EQ(want->numel(), t.numel());
    std::vector<float> got(static_cast<std::size_t>(t.numel()));
    dequantize_ggml(*type, t.data, got.data(), t.numel());
    const auto* w = reinterpret_cast<const float*>(want->data);
    std::int64_t mismatches = 0;
    for (std::size_t i = 0; i < got.size(); ++i)
      if (std::memcmp(&got[i], &w[i], 4) != 0 && ++mismatches <= 3)
        ADD_FAILURE() << type_name << " element " << i << ": glmq " << got[i] << ", gguf-py " << w[i];
    EXPECT_EQ(mismatches, 0) << type_name;
    ++types;
  }
  EXPECT_EQ(types, 14);
}

}  // namespace
}  // namespace glmq
