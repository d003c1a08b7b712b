// glmq's GGML quantizers against llama.cpp's: glm-small converted by llama.cpp's convert_hf_to_gguf.py (bf16 and
// q8_0, via tests/gguf/llama_convert.py) and, when GLMQ_LLAMA_BIN names llama.cpp's tools, re-quantized by
// llama-quantize --pure. Every tensor glmq quantizes from the bf16 values must equal llama.cpp's bytes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/float_convert.h"
#include "formats/ggml_types.h"
#include "formats/gguf_file.h"
#include "gguf/llama_converted.h"
#include "quant/ggml_quantize.h"

namespace glmq {
namespace {

const std::string kLlamaSrc = GLMQ_LLAMA_CPP_DIR;
const std::string kLlamaBin = GLMQ_LLAMA_BIN;
const std::string kOut = test::kLlamaConvertedDir;

std::string converted(const std::string& outtype) { return test::llama_converted(kLlamaSrc, outtype); }

// Compares every quantized tensor of `quantized` with glmq's quantization of the same tensor in `source` (bf16).
void expect_same_quantization(const GgufFile& source, const GgufFile& quantized, int& compared) {
  for (const auto& q : quantized.tensors()) {
    auto type = weight_type_from_ggml(q.ggml_type);
    if (!type || !ggml_can_quantize(*type)) continue;
    const GgufTensor* s = source.find_tensor(q.name);
    ASSERT_TRUE(s) << q.name;
    // The converter keeps most weights bf16 and widens the router and indexer projections to f32.
    ASSERT_TRUE(s->ggml_type == 30u || s->ggml_type == 0u) << q.name << " is neither bf16 nor f32 in the source";
    std::vector<float> x(static_cast<std::size_t>(s->numel()));
    if (s->ggml_type == 0u) {
      std::memcpy(x.data(), s->data, 4 * x.size());
    } else {
      for (std::size_t i = 0; i < x.size(); ++i) {
        std::uint16_t h;
        std::memcpy(&h, s->data + 2 * i, 2);
        x[i] = bf16_to_f32(h);
      }
    }
    const std::int64_t cols = s->dim(0), rows = s->numel() / cols;
    std::vector<std::uint8_t> mine(q.nbytes);
    quantize_ggml(*type, x.data(), mine.data(), rows, cols);
    const std::size_t bb = weight_block_bytes(*type);
    std::size_t bad_blocks = 0;
    for (std::size_t off = 0; off < q.nbytes; off += bb)
      bad_blocks += std::memcmp(mine.data() + off, q.data + off, bb) != 0;
    EXPECT_EQ(bad_blocks, 0u) << q.name << " (" << weight_type_name(*type) << "): " << bad_blocks << " of " << q.nbytes / bb
                              << " blocks differ";
    ++compared;
  }
}

TEST(GgufQuantInterop, Q8_0MatchesLlamaConverter) {
  GLMQ_SKIP_WITHOUT_LLAMA_CPP();
  const std::string bf16 = converted("bf16"), q8 = converted("q8_0");
  ASSERT_FALSE(bf16.empty() || q8.empty()) << "llama.cpp's converter failed; see " << kOut;
  GgufFile source(bf16), quantized(q8);
  int compared = 0;
  expect_same_quantization(source, quantized, compared);
  EXPECT_GT(compared, 50);
}

TEST(GgufQuantInterop, Q6KAndIq4NlMatchLlamaQuantize) {
  const std::string tool = kLlamaBin + "/llama-quantize";
  GLMQ_SKIP_WITHOUT_LLAMA_CPP();
  ASSERT_TRUE(std::filesystem::exists(tool)) << "-DGLMQ_LLAMA_BIN has no llama-quantize: " << tool;
  const std::string bf16 = converted("bf16");
  ASSERT_FALSE(bf16.empty());
  GgufFile source(bf16);
  for (const char* type : {"Q6_K", "IQ4_NL"}) {
    const std::string out = kOut + "/glm-small-" + type + ".gguf";
    const std::string cmd = tool + " --pure " + bf16 + " " + out + " " + type + " 2 > " + out + ".log 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    GgufFile quantized(out);
    int compared = 0;
    expect_same_quantization(source, quantized, compared);
    EXPECT_GT(compared, 50) << type;
  }
}

}  // namespace
}  // namespace glmq
