// MLX affine quantization: packing, the quantizer's rules and the worked examples of quant_mlx.md.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/float_convert.h"
#include "quant/mlx_affine.h"

namespace glmq {
namespace {

std::uint32_t word(const std::vector<std::uint8_t>& bytes, std::size_t i) {
  std::uint32_t w;
  std::memcpy(&w, bytes.data() + 4 * i, 4);
  return w;
}

WeightMatrix view(const AffineQuantized& q, int bits, std::int64_t rows, std::int64_t cols, std::int64_t gs, WeightType aux) {
  return WeightMatrix{*affine_type_for_bits(bits), rows, cols, q.codes.data(), q.scales.data(), q.biases.data(), aux, gs};
}

TEST(MlxAffine, WorkedExample4Bit) {
  // quant_mlx.md §1.3: row [-1, -0.5, 0, 0.25, 0.5, 1, 0.75, -0.25] × 4, fp32, group 32, 4 bits.
  std::vector<float> row;
  for (int k = 0; k < 4; ++k) row.insert(row.end(), {-1, -0.5f, 0, 0.25f, 0.5f, 1, 0.75f, -0.25f});
  AffineQuantized q = quantize_affine(row.data(), 1, 32, 4, 32, WeightType::F32);
  EXPECT_EQ(word(q.codes, 0), 0x920357aeu);
  WeightMatrix m = view(q, 4, 1, 32, 32, WeightType::F32);
  EXPECT_FLOAT_EQ(affine_aux(m.scales, WeightType::F32, 0), 1.0f / -7.0f);
  EXPECT_FLOAT_EQ(affine_aux(m.biases, WeightType::F32, 0), 1.0f);
  AffineQuantized qb = quantize_affine(row.data(), 1, 32, 4, 32, WeightType::BF16);
  EXPECT_EQ(affine_aux(qb.scales.data(), WeightType::BF16, 0), -0.142578125f);
}

TEST(MlxAffine, WorkedExamples3And5Bit) {
  std::vector<float> r3;
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 8; ++i) r3.push_back(static_cast<float>(i));
  AffineQuantized q3 = quantize_affine(r3.data(), 1, 32, 3, 32, WeightType::F32);
  EXPECT_EQ(word(q3.codes, 0), 0x77053977u);
  EXPECT_EQ(word(q3.codes, 1), 0x39770539u);
  EXPECT_EQ(word(q3.codes, 2), 0x05397705u);
  std::vector<float> r5;
  for (int i = 0; i < 32; ++i) r5.push_back(static_cast<float>(i));
  AffineQuantized q5 = quantize_affine(r5.data(), 1, 32, 5, 32, WeightType::F32);
  const std::uint32_t want[] = {0x75be77dfu, 0x3a56d7c6u, 0x35cf8465u, 0xc74254b6u, 0x00443214u};
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(word(q5.codes, i), want[i]) << i;
}

TEST(MlxAffine, RoundTripErrorWithinHalfAStepForEveryBitsAndGroup) {
  std::mt19937 rng(7);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int bits : {2, 3, 4, 5, 6, 8})
    for (std::int64_t gs : {32, 64, 128}) {
      const std::int64_t rows = 3, cols = 256;
      std::vector<float> w(static_cast<std::size_t>(rows * cols));
      for (auto& x : w) x = d(rng);
      AffineQuantized q = quantize_affine(w.data(), rows, cols, bits, gs, WeightType::F32);
      WeightMatrix m = view(q, bits, rows, cols, gs, WeightType::F32);
      std::vector<float> back(static_cast<std::size_t>(cols));
      for (std::int64_t r = 0; r < rows; ++r) {
        dequantize_affine_row(m, r, back.data());
        for (std::int64_t g = 0; g < cols / gs; ++g) {
          const float step = std::fabs(affine_aux(m.scales + r * m.aux_row_bytes(), WeightType::F32, g));
          // Codes at the far end may be clamped (the zero-aligned scale can be slightly short of the range).
          for (std::int64_t i = g * gs; i < (g + 1) * gs; ++i) {
            if (affine_code(m.row(r), i, bits) == (1u << bits) - 1u) continue;
            ASSERT_LE(std::fabs(back[static_cast<std::size_t>(i)] - w[static_cast<std::size_t>(r * cols + i)]), 0.5f * step * 1.001f + 1e-6f)
                << "bits " << bits << " gs " << gs;
          }
        }
      }
    }
}

TEST(MlxAffine, ZeroIsExactAndConstantGroupsDecodeExactly) {
  std::vector<float> w(64, 0.0f);
  for (int i = 0; i < 32; ++i) w[static_cast<std::size_t>(i)] = 0.37f;  // group 0 constant, group 1 all zero
  AffineQuantized q = quantize_affine(w.data(), 1, 64, 4, 32, WeightType::F32);
  std::vector<float> back(64);
  dequantize_affine_row(view(q, 4, 1, 64, 32, WeightType::F32), 0, back.data());
  for (int i = 0; i < 64; ++i) EXPECT_EQ(back[static_cast<std::size_t>(i)], w[static_cast<std::size_t>(i)]);
}

TEST(MlxAffine, MlxRoundingDequantizesInTheScaleDtype) {
  std::vector<float> w(32);
  for (int i = 0; i < 32; ++i) w[static_cast<std::size_t>(i)] = std::sin(static_cast<float>(i)) * 3.0f;
  AffineQuantized q = quantize_affine(w.data(), 1, 32, 8, 32, WeightType::BF16);
  WeightMatrix m = view(q, 8, 1, 32, 32, WeightType::BF16);
  std::vector<float> exact(32);
  dequantize_affine_row(m, 0, exact.data(), true);
  for (float v : exact) EXPECT_EQ(bf16_to_f32(f32_to_bf16(v)), v);  // every value is a bf16 number
}

TEST(MlxAffine, RejectsBadParameters) {
  std::vector<float> w(96, 1.0f);
  EXPECT_ANY_THROW(quantize_affine(w.data(), 1, 96, 4, 64, WeightType::BF16));  // 96 % 64 != 0
  EXPECT_ANY_THROW(quantize_affine(w.data(), 1, 96, 7, 32, WeightType::BF16));
  EXPECT_ANY_THROW(quantize_affine(w.data(), 1, 96, 4, 16, WeightType::BF16));
}

}  // namespace
}  // namespace glmq
