// Q4_0, Q5_0 and Q5_1 quantization (llama-quantize's fallbacks for Q2_K/Q3_K, Q4_K and Q5_K on rows that are not
// whole 256-blocks): exact bytes for blocks whose codes fall on the grid (no rounding choice, so no dependence on
// how the build contracts multiply-adds), ggml's all-zero blocks, reconstruction error, the importance weighting,
// and row independence. Byte-for-byte agreement with llama-quantize on glm-small is in
// tests/gguf/test_gguf_quantize_interop.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "quant/ggml_dequantize.h"
#include "quant/ggml_quantize.h"

namespace glmq {
namespace {

std::vector<std::uint8_t> quantize_row(WeightType type, const std::vector<float>& x, const float* importance = nullptr) {
  std::vector<std::uint8_t> q(weight_row_bytes(type, x.size()));
  quantize_ggml(type, x.data(), q.data(), 1, static_cast<std::int64_t>(x.size()), importance);
  return q;
}

std::uint16_t u16(const std::vector<std::uint8_t>& b, std::size_t at) {
  return static_cast<std::uint16_t>(b[at] | (b[at + 1] << 8));
}
std::uint32_t u32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (static_cast<std::uint32_t>(b[at + 3]) << 24);
}

TEST(GgmlQuantizeQ4_0Q5, GridValuesGiveTheirOwnCodes) {
  // Q4_0: x = (j % 16 − 8)/2. The extreme −4 (first at j = 0) gives d = −4/−8 = 0.5 and q = j % 16.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[static_cast<std::size_t>(j)] = static_cast<float>(j % 16 - 8) * 0.5f;
  auto q = quantize_row(WeightType::Q4_0, x);
  ASSERT_EQ(q.size(), 18u);
  EXPECT_EQ(u16(q, 0), 0x3800);  // fp16 0.5
  for (int j = 0; j < 16; ++j) EXPECT_EQ(q[2 + static_cast<std::size_t>(j)], j | (j << 4)) << j;

  // Q5_0: x = (j − 16)/4: d = −4/−16 = 0.25, q = j; the fifth bit is set for j ≥ 16.
  for (int j = 0; j < 32; ++j) x[static_cast<std::size_t>(j)] = static_cast<float>(j - 16) * 0.25f;
  q = quantize_row(WeightType::Q5_0, x);
  ASSERT_EQ(q.size(), 22u);
  EXPECT_EQ(u16(q, 0), 0x3400);  // fp16 0.25
  EXPECT_EQ(u32(q, 2), 0xFFFF0000u);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(q[6 + static_cast<std::size_t>(j)], j | (j << 4)) << j;

  // Q5_1: x = 1 + j/2: min 1, d = (16.5 − 1)/31 = 0.5, q = j.
  for (int j = 0; j < 32; ++j) x[static_cast<std::size_t>(j)] = 1.0f + 0.5f * static_cast<float>(j);
  q = quantize_row(WeightType::Q5_1, x);
  ASSERT_EQ(q.size(), 24u);
  EXPECT_EQ(u16(q, 0), 0x3800);  // d 0.5
  EXPECT_EQ(u16(q, 2), 0x3C00);  // m 1.0
  EXPECT_EQ(u32(q, 4), 0xFFFF0000u);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(q[8 + static_cast<std::size_t>(j)], j | (j << 4)) << j;
  // And the reference dequantizer gives the values back exactly.
  std::vector<float> y(32);
  dequantize_ggml(WeightType::Q5_1, q.data(), y.data(), 32);
  EXPECT_EQ(y, x);
}

// All-zero blocks as ggml's _ref functions write them: d = 0/−8 = −0.0 (fp16 0x8000) for Q4_0 and Q5_0 with the code
// of 0, i.e. the offset (8 for Q4_0; 16 for Q5_0 — low nibble 0 with the fifth bit set), and for Q5_1 all zero.
TEST(GgmlQuantizeQ4_0Q5, AllZeroBlocksHaveGgmlsBytes) {
  const std::vector<float> zeros(64, 0.0f);
  auto q = quantize_row(WeightType::Q4_0, zeros);
  for (std::size_t b = 0; b < 2; ++b) {
    EXPECT_EQ(u16(q, 18 * b), 0x8000);
    for (std::size_t i = 2; i < 18; ++i) EXPECT_EQ(q[18 * b + i], 0x88) << "Q4_0 block " << b << " byte " << i;
  }
  q = quantize_row(WeightType::Q5_0, zeros);
  for (std::size_t b = 0; b < 2; ++b) {
    EXPECT_EQ(u16(q, 22 * b), 0x8000);
    EXPECT_EQ(u32(q, 22 * b + 2), 0xFFFFFFFFu);
    for (std::size_t i = 6; i < 22; ++i) EXPECT_EQ(q[22 * b + i], 0x00) << "Q5_0 block " << b << " byte " << i;
  }
  q = quantize_row(WeightType::Q5_1, zeros);
  for (std::size_t i = 0; i < q.size(); ++i) EXPECT_EQ(q[i], 0) << "Q5_1 byte " << i;
}

struct Data {
  std::int64_t rows = 12, cols = 384;
  std::vector<float> x, importance;
  explicit Data(unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    for (std::int64_t r = 0; r < rows; ++r) {
      const float scale = 0.01f + 0.05f * uniform(rng);
      for (std::int64_t c = 0; c < cols; ++c) x.push_back(scale * normal(rng) * (c % 61 == 0 ? 6.0f : 1.0f));
    }
    for (std::int64_t c = 0; c < cols; ++c) {
      const float u = uniform(rng);
      importance.push_back(0.01f + 10.0f * u * u * u * u);
    }
  }
  // sqrt(Σ w·(x − y)²) / sqrt(Σ w·x²), w the column importance or 1.
  double error(WeightType type, const float* quant_importance, bool weighted) const {
    std::vector<std::uint8_t> q(static_cast<std::size_t>(rows) * weight_row_bytes(type, static_cast<std::size_t>(cols)));
    quantize_ggml(type, x.data(), q.data(), rows, cols, quant_importance);
    std::vector<float> y(x.size());
    dequantize_ggml(type, q.data(), y.data(), rows * cols);
    double num = 0, den = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double w = weighted ? importance[i % static_cast<std::size_t>(cols)] : 1.0;
      num += w * (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
      den += w * static_cast<double>(x[i]) * x[i];
    }
    return std::sqrt(num / den);
  }
};

// Bounds: the measured relative RMS errors (Q4_0 0.136, Q5_0 0.067, Q5_1 0.046 on this data) + 25%; the lower
// bound (half of it) catches a quantizer that copies values instead of rounding them to its grid.
TEST(GgmlQuantizeQ4_0Q5, ReconstructionErrorAndImportance) {
  const Data d(3);
  struct Case {
    WeightType type;
    double max_error;
  };
  for (const Case c : {Case{WeightType::Q4_0, 0.17}, Case{WeightType::Q5_0, 0.084}, Case{WeightType::Q5_1, 0.057}}) {
    const double plain = d.error(c.type, nullptr, false);
    EXPECT_LT(plain, c.max_error) << weight_type_name(c.type);
    EXPECT_GT(plain, 0.5 * c.max_error) << weight_type_name(c.type);
    // Quantizing with the importance lowers the importance-weighted error.
    EXPECT_LT(d.error(c.type, d.importance.data(), true), d.error(c.type, nullptr, true)) << weight_type_name(c.type);
  }
}

// Rows quantize independently (the importance path weights by the mean square of its own row only).
TEST(GgmlQuantizeQ4_0Q5, RowsAreIndependent) {
  const Data d(4);
  for (WeightType type : {WeightType::Q4_0, WeightType::Q5_0, WeightType::Q5_1}) {
    const std::size_t row_bytes = weight_row_bytes(type, static_cast<std::size_t>(d.cols));
    std::vector<std::uint8_t> all(static_cast<std::size_t>(d.rows) * row_bytes), one(row_bytes);
    quantize_ggml(type, d.x.data(), all.data(), d.rows, d.cols, d.importance.data());
    for (std::int64_t r = 0; r < d.rows; ++r) {
      quantize_ggml(type, d.x.data() + r * d.cols, one.data(), 1, d.cols, d.importance.data());
      EXPECT_TRUE(std::equal(one.begin(), one.end(), all.begin() + static_cast<std::ptrdiff_t>(r * static_cast<std::int64_t>(row_bytes))))
          << weight_type_name(type) << " row " << r;
    }
  }
}

}  // namespace
}  // namespace glmq
