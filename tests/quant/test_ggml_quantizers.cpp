// glmq's GGML reference quantizers on synthetic data: reconstruction error through the reference dequantizer,
// the effect of importance weights, exact bytes for all-zero blocks, the i-quant grid maps, and golden digests that
// pin the bytes (recorded from this implementation once tests/gguf/test_gguf_quantize_interop.cpp had shown it
// byte-identical to llama-quantize b11434; any change to them is a change of output format).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <utility>
#include <vector>

#include "core/error.h"
#include "quant/ggml_dequantize.h"
#include "quant/ggml_iq_grid_map.h"
#include "quant/ggml_iq_tables.h"
#include "quant/ggml_quantize.h"

namespace glmq {
namespace {

constexpr std::int64_t kRows = 16, kCols = 512;

// splitmix64: a portable deterministic stream (std:: distributions differ between standard libraries).
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }  // [0, 1), exact in float
};

// Roughly Gaussian weights (sum of four uniforms) with a per-row scale and a few outliers, like trained matrices.
std::vector<float> synthetic_weights(std::uint64_t seed) {
  Rng rng{seed};
  std::vector<float> x(static_cast<std::size_t>(kRows * kCols));
  for (std::int64_t r = 0; r < kRows; ++r) {
    const float row_scale = 0.01f + 0.05f * rng.uniform();
    for (std::int64_t c = 0; c < kCols; ++c) {
      float v = rng.uniform() + rng.uniform() + rng.uniform() + rng.uniform() - 2.0f;
      if (rng.next() % 97 == 0) v *= 6.0f;
      x[static_cast<std::size_t>(r * kCols + c)] = row_scale * v;
    }
  }
  return x;
}

// Per-column importance as an imatrix gives it: mean squared activations spanning three orders of magnitude, a few
// columns dominating (only + and ·, so the values do not depend on the math library).
std::vector<float> synthetic_importance(std::uint64_t seed) {
  Rng rng{seed};
  std::vector<float> w(static_cast<std::size_t>(kCols));
  for (auto& v : w) {
    const float u = rng.uniform();
    v = 0.01f + 10.0f * u * u * u * u;
  }
  return w;
}

// IQ2_XXS has no unweighted form: its "without importance" case is uniform importance.
std::vector<std::uint8_t> quantize(WeightType type, const std::vector<float>& x, const float* importance) {
  std::vector<std::uint8_t> q(static_cast<std::size_t>(kRows) * weight_row_bytes(type, kCols));
  const std::vector<float> uniform(static_cast<std::size_t>(kCols), 1.0f);
  if (!importance && ggml_quantize_requires_importance(type)) importance = uniform.data();
  quantize_ggml(type, x.data(), q.data(), kRows, kCols, importance);
  return q;
}

std::vector<float> dequantize(WeightType type, const std::vector<std::uint8_t>& q) {
  std::vector<float> y(static_cast<std::size_t>(kRows * kCols));
  dequantize_ggml(type, q.data(), y.data(), kRows * kCols);
  return y;
}

// sqrt(Σ w·(x − y)²) / sqrt(Σ w·x²), with w the column importance (1 when null).
double relative_error(const std::vector<float>& x, const std::vector<float>& y, const float* importance) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double w = importance ? importance[i % kCols] : 1.0;
    num += w * (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    den += w * static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(num / den);
}

std::uint64_t fnv1a(const std::vector<std::uint8_t>& bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::uint8_t b : bytes) h = (h ^ b) * 0x100000001b3ull;
  return h;
}

struct TypeCase {
  WeightType type;
  double max_error;             // relative RMS error bound without importance (measured value + 25%)
  std::uint64_t digest;         // fnv1a of the bytes without importance, FMA-contracting build
  std::uint64_t digest_imatrix; // and with synthetic_importance(7)
  // The same without FMA contraction (ggml_quantizers_fuse_multiply_add() false: the unoptimised sanitizer build).
  // Near-ties in the scale searches break differently there for a few blocks; where nothing differs, they are equal.
  std::uint64_t unfused_digest;
  std::uint64_t unfused_digest_imatrix;
};

void PrintTo(const TypeCase& c, std::ostream* os) { *os << weight_type_name(c.type); }
class GgmlQuantizer : public ::testing::TestWithParam<TypeCase> {};

TEST_P(GgmlQuantizer, ReconstructsWithinItsErrorBound) {
  const TypeCase& tc = GetParam();
  const auto x = synthetic_weights(1);
  const double err = relative_error(x, dequantize(tc.type, quantize(tc.type, x, nullptr)), nullptr);
  EXPECT_LT(err, tc.max_error) << weight_type_name(tc.type);
  // A quantizer that does not collapse to zero or copy garbage: the error is far above float rounding, too.
  EXPECT_GT(err, 1e-4) << weight_type_name(tc.type);
}

TEST_P(GgmlQuantizer, ImportanceLowersTheWeightedError) {
  const TypeCase& tc = GetParam();
  const auto x = synthetic_weights(2);
  const auto w = synthetic_importance(3);
  if (tc.type == WeightType::Q8_0) {  // quantize_q8_0 ignores quant_weights
    EXPECT_EQ(quantize(tc.type, x, w.data()), quantize(tc.type, x, nullptr));
    return;
  }
  const double plain = relative_error(x, dequantize(tc.type, quantize(tc.type, x, nullptr)), w.data());
  const double weighted = relative_error(x, dequantize(tc.type, quantize(tc.type, x, w.data())), w.data());
  EXPECT_LT(weighted, plain) << weight_type_name(tc.type);
}

TEST_P(GgmlQuantizer, BytesMatchTheirGoldenDigest) {
  const TypeCase& tc = GetParam();
  const auto x = synthetic_weights(5);
  const auto w = synthetic_importance(7);
  const bool fused = ggml_quantizers_fuse_multiply_add();
  EXPECT_EQ(fnv1a(quantize(tc.type, x, nullptr)), fused ? tc.digest : tc.unfused_digest) << weight_type_name(tc.type);
  EXPECT_EQ(fnv1a(quantize(tc.type, x, w.data())), fused ? tc.digest_imatrix : tc.unfused_digest_imatrix)
      << weight_type_name(tc.type) << " with importance";
}

TEST_P(GgmlQuantizer, RowsAreIndependent) {
  const TypeCase& tc = GetParam();
  const auto x = synthetic_weights(9);
  const auto w = synthetic_importance(11);
  const auto all = quantize(tc.type, x, w.data());
  const std::size_t row_bytes = weight_row_bytes(tc.type, kCols);
  std::vector<std::uint8_t> one(row_bytes);
  for (std::int64_t r = 0; r < kRows; ++r) {
    quantize_ggml(tc.type, x.data() + r * kCols, one.data(), 1, kCols, w.data());
    EXPECT_EQ(std::memcmp(one.data(), all.data() + static_cast<std::size_t>(r) * row_bytes, row_bytes), 0) << "row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Types, GgmlQuantizer,
    ::testing::Values(TypeCase{WeightType::Q8_0, 0.009, 0x5ef715b878279927ull, 0x5ef715b878279927ull,
                               0x5ef715b878279927ull, 0x5ef715b878279927ull},
                      TypeCase{WeightType::Q6_K, 0.027, 0x68c113ed13002258ull, 0x56a09d7cd35e6f29ull,
                               0x5ef37a19f626b51bull, 0x56a09d7cd35e6f29ull},
                      TypeCase{WeightType::Q5_K, 0.05, 0xba36e18809449b61ull, 0x41199efc5aac79fbull,
                               0xbde54093ff3f8d5eull, 0x41199efc5aac79fbull},
                      TypeCase{WeightType::Q4_K, 0.1, 0x8f46651b43b88cc1ull, 0x0a0fadcadf821a5full,
                               0x8f46651b43b88cc1ull, 0x0a0fadcadf821a5full},
                      TypeCase{WeightType::Q3_K, 0.22, 0x419769ffbbf55b38ull, 0x886486e3164c0c19ull,
                               0x419769ffbbf55b38ull, 0xfff5d2b9a9c41196ull},
                      TypeCase{WeightType::Q2_K, 0.39, 0x3ccfeca3e73a0bd7ull, 0xddb565dbf0f058b9ull,
                               0x3ccfeca3e73a0bd7ull, 0xddb565dbf0f058b9ull},
                      TypeCase{WeightType::IQ4_NL, 0.11, 0x8f4491f35fbfc944ull, 0x2363c9a2ebf13ddfull,
                               0x8f4491f35fbfc944ull, 0x2363c9a2ebf13ddfull},
                      TypeCase{WeightType::IQ4_XS, 0.115, 0xe767b38aab1afc0aull, 0x17d9aaabd3ef83a6ull,
                               0xe767b38aab1afc0aull, 0x17d9aaabd3ef83a6ull},
                      TypeCase{WeightType::IQ2_S, 0.4, 0x8cbe1bd6c24e72f7ull, 0x2d9bc675ea2a465aull,
                               0x8cbe1bd6c24e72f7ull, 0x9f8e8da6668daf36ull},
                      TypeCase{WeightType::IQ3_S, 0.24, 0x94eaadf3bc930894ull, 0x892c2db05adf6770ull,
                               0x94eaadf3bc930894ull, 0xcbc8ba23fce9f06cull},
                      TypeCase{WeightType::IQ2_XXS, 0.53, 0xd314e81ef6786c43ull, 0xcc57cc3c846cea0dull,
                               0xd314e81ef6786c43ull, 0xcc57cc3c846cea0dull}),
    [](const ::testing::TestParamInfo<TypeCase>& p) { return std::string(weight_type_name(p.param.type)); });

// An all-zero super-block, as ggml writes it: everything zero, except IQ4_NL/IQ4_XS whose levels are the table
// entry nearest 0 (index 8, value 1) and IQ4_XS whose super-scale is −max/32 = −0.0 with sub-scales 0 + 32.
TEST(GgmlQuantizerZeros, AllZeroBlocksHaveGgmlsBytes) {
  const std::vector<float> zeros(256, 0.0f);
  const std::vector<float> ones(256, 1.0f);
  for (WeightType t : {WeightType::Q2_K, WeightType::Q3_K, WeightType::Q4_K, WeightType::Q5_K, WeightType::Q6_K,
                       WeightType::IQ2_S, WeightType::IQ2_XXS, WeightType::IQ3_S, WeightType::Q8_0}) {
    std::vector<std::uint8_t> q(weight_row_bytes(t, 256), 0xEE);
    quantize_ggml(t, zeros.data(), q.data(), 1, 256, ggml_quantize_requires_importance(t) ? ones.data() : nullptr);
    for (std::size_t i = 0; i < q.size(); ++i) ASSERT_EQ(q[i], 0) << weight_type_name(t) << " byte " << i;
  }
  std::vector<std::uint8_t> nl(18 * 8);
  quantize_ggml(WeightType::IQ4_NL, zeros.data(), nl.data(), 1, 256);
  for (std::size_t b = 0; b < 8; ++b) {
    EXPECT_EQ(nl[18 * b], 0);
    EXPECT_EQ(nl[18 * b + 1], 0);
    for (std::size_t i = 2; i < 18; ++i) EXPECT_EQ(nl[18 * b + i], 0x88) << "IQ4_NL block " << b << " byte " << i;
  }
  std::vector<std::uint8_t> xs(136);
  quantize_ggml(WeightType::IQ4_XS, zeros.data(), xs.data(), 1, 256);
  EXPECT_EQ(xs[0], 0x00);
  EXPECT_EQ(xs[1], 0x80);  // fp16 −0.0
  EXPECT_EQ(xs[2], 0xAA);  // scales_h: 2 high bits of 32 (0b10) for each of 8 sub-blocks
  EXPECT_EQ(xs[3], 0xAA);
  for (std::size_t i = 4; i < 8; ++i) EXPECT_EQ(xs[i], 0x00);
  for (std::size_t i = 8; i < 136; ++i) EXPECT_EQ(xs[i], 0x88);
}

// A block that is one non-zero value: every 256-block type must reproduce its sign and rough magnitude. (The spike
// sits in the first 32 values: IQ3_S shifts the codes of sub-blocks after an all-zero one, see below.)
TEST(GgmlQuantizerZeros, SingleSpikeKeepsSignAndMagnitude) {
  const std::vector<float> ones(256, 1.0f);
  for (WeightType t : {WeightType::Q2_K, WeightType::Q3_K, WeightType::Q4_K, WeightType::Q5_K, WeightType::Q6_K,
                       WeightType::IQ4_XS, WeightType::IQ2_S, WeightType::IQ2_XXS, WeightType::IQ3_S}) {
    for (float spike : {0.75f, -0.75f}) {
      std::vector<float> x(256, 0.0f);
      x[13] = spike;
      std::vector<std::uint8_t> q(weight_row_bytes(t, 256));
      quantize_ggml(t, x.data(), q.data(), 1, 256, ggml_quantize_requires_importance(t) ? ones.data() : nullptr);
      std::vector<float> y(256);
      dequantize_ggml(t, q.data(), y.data(), 256);
      EXPECT_NEAR(y[13], spike, 0.2f) << weight_type_name(t) << " spike " << spike;
    }
  }
}

// quantize_row_iq3_s_impl moves its qs/signs write positions only past sub-blocks it stores, so after an all-zero
// sub-block the next one's grid indices and signs land in the zero one's slots (its qh bits and scale stay in its
// own). llama-quantize writes exactly this; glmq keeps it for bit-exactness.
TEST(GgmlQuantizerZeros, Iq3SShiftsCodesPastAnAllZeroSubBlock) {
  std::vector<float> x(256, 0.0f);
  for (int i = 32; i < 64; ++i) x[static_cast<std::size_t>(i)] = (i % 3 == 0 ? -0.5f : 0.25f) + 0.01f * static_cast<float>(i - 32);
  std::vector<std::uint8_t> shifted(110), alone(110);
  quantize_ggml(WeightType::IQ3_S, x.data(), shifted.data(), 1, 256);
  std::vector<float> first(x.begin() + 32, x.begin() + 64);
  first.resize(256, 0.0f);
  quantize_ggml(WeightType::IQ3_S, first.data(), alone.data(), 1, 256);
  // Sub-block 1 quantized as sub-block 0 of an otherwise zero block: same d, indices, signs, scale nibble.
  EXPECT_EQ(std::memcmp(shifted.data(), alone.data(), 2), 0);
  EXPECT_EQ(std::memcmp(shifted.data() + 2, alone.data() + 2, 8), 0) << "qs of sub-block 1 in slot 0";
  EXPECT_EQ(std::memcmp(shifted.data() + 74, alone.data() + 74, 4), 0) << "signs of sub-block 1 in slot 0";
  EXPECT_EQ(shifted[66 + 1], alone[66]) << "qh stays with its sub-block";
  EXPECT_EQ(shifted[106], alone[106] << 4) << "the scale stays with its sub-block";
  for (int i = 10; i < 66; ++i) EXPECT_EQ(shifted[static_cast<std::size_t>(i)], 0) << "qs byte " << i;
}

TEST(GgmlQuantizerErrors, RejectsTypesAndShapesItCannotQuantize) {
  std::vector<float> x(256, 1.0f);
  std::vector<std::uint8_t> q(1024);
  try {
    quantize_ggml(WeightType::Affine4, x.data(), q.data(), 1, 256);
    FAIL() << "an MLX affine type is not a GGML quantizer";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::DType);
  }
  try {
    quantize_ggml(WeightType::IQ2_XXS, x.data(), q.data(), 1, 256);
    FAIL() << "IQ2_XXS has no unweighted form";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("IQ2_XXS"), std::string::npos) << e.what();
  }
  try {
    quantize_ggml(WeightType::IQ2_S, x.data(), q.data(), 1, 96);
    FAIL() << "96 values are not a whole IQ2_S super-block";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Shape);
    EXPECT_NE(std::string(e.what()).find("256"), std::string::npos) << e.what();
  }
  for (WeightType t : {WeightType::IQ2_XXS, WeightType::IQ2_S, WeightType::IQ3_S}) EXPECT_TRUE(ggml_can_quantize(t));
  EXPECT_FALSE(ggml_can_quantize(WeightType::Affine4));
  EXPECT_TRUE(ggml_quantize_requires_importance(WeightType::IQ2_XXS));
  EXPECT_FALSE(ggml_quantize_requires_importance(WeightType::IQ3_S));
}

// The grid maps: every grid point maps to itself (and matches its dequantization table); every reachable off-grid
// pattern lists exactly the grid points within its `nwant` smallest distinct squared distances, in index order.
struct GridCase {
  const char* name;
  const ggml::IqGridMap& (*map)();
  int grid_size, nwant, max_level, reachable;  // reachable: (max_level + 1)^group_size patterns
};

TEST(IqGridMap, MapsGridPointsAndNearestNeighbours) {
  for (const GridCase& c : {GridCase{"IQ2_S", ggml::iq2_s_grid_map, 1024, 1, 2, 6561},
                            GridCase{"IQ2_XXS", ggml::iq2_xxs_grid_map, 256, 2, 2, 6561},
                            GridCase{"IQ3_S", ggml::iq3_s_grid_map, 512, 3, 7, 4096}}) {
    SCOPED_TRACE(c.name);
    const ggml::IqGridMap& g = c.map();
    ASSERT_EQ(g.grid.size(), static_cast<std::size_t>(c.grid_size));
    const int n = g.group_size, bits = g.level_bits;
    auto level = [&](std::uint32_t u, int k) { return static_cast<int>((u >> (bits * k)) & ((1u << bits) - 1)); };
    for (int j = 0; j < c.grid_size; ++j) {
      std::uint32_t u = 0;
      for (int k = 0; k < n; ++k) {
        const int m = g.magnitude(static_cast<std::size_t>(j), k);
        // The quantizer's odd magnitudes against the dequantization table: IQ2 {1,3,5} ↔ {8,25,43}, IQ3 as is.
        const std::uint64_t dequant = c.grid_size == 1024 ? ggml::kIq2sGrid[j]
                                      : c.grid_size == 256 ? ggml::kIq2xxsGrid[j]
                                                           : ggml::kIq3sGrid[j];
        const std::uint64_t expected = c.grid_size == 512 ? static_cast<std::uint64_t>(m) : (m == 1 ? 8u : (m == 3 ? 25u : 43u));
        ASSERT_EQ((dequant >> (8 * k)) & 0xFF, expected);
        u |= static_cast<std::uint32_t>((m - 1) / 2) << (bits * k);
      }
      ASSERT_EQ(g.map[u], j);
    }
    int off_grid = 0;
    for (std::uint32_t u = 0; u < g.map.size(); ++u) {
      bool reachable = true;
      for (int k = 0; k < n; ++k) reachable = reachable && level(u, k) <= c.max_level;
      if (!reachable || g.map[u] >= 0) continue;
      ++off_grid;
      std::vector<std::pair<int, int>> d(static_cast<std::size_t>(c.grid_size));
      for (int j = 0; j < c.grid_size; ++j) {
        int d2 = 0;
        for (int k = 0; k < n; ++k) {
          const int diff = g.magnitude(static_cast<std::size_t>(j), k) - (2 * level(u, k) + 1);
          d2 += diff * diff;
        }
        d[static_cast<std::size_t>(j)] = {d2, j};
      }
      std::sort(d.begin(), d.end());
      std::vector<int> nearest;
      int distinct = 0, last = -1;
      for (const auto& [d2, j] : d) {
        if (d2 != last && ++distinct > c.nwant) break;
        last = d2;
        nearest.push_back(j);
      }
      const std::uint16_t* nb = g.neighbours_of(u);
      ASSERT_EQ(nb[0], nearest.size()) << "pattern " << u;
      for (std::size_t i = 0; i < nearest.size(); ++i) ASSERT_EQ(nb[1 + i], nearest[i]) << "pattern " << u;
    }
    EXPECT_EQ(off_grid, c.reachable - c.grid_size);
  }
}

}  // namespace
}  // namespace glmq
