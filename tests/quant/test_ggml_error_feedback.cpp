// Error-feedback (GPTQ-style) rounding on synthetic matrices with correlated inputs: the factor inverts the
// dampened covariance, the H-weighted reconstruction error falls against plain rounding for every per-block type,
// the output stays valid blocks of the type, and the covariance file round-trips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "quant/ggml_dequantize.h"
#include "quant/ggml_error_feedback.h"
#include "quant/ggml_quantize.h"
#include "quant/input_covariance.h"

namespace glmq {
namespace {

struct Rng {  // splitmix64, portable
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  double gauss() { return (uniform() + uniform() + uniform() + uniform() - 2.0) * std::sqrt(3.0); }
};

// Σ xᵀx of `n` input rows of `cols` values whose neighbouring columns are strongly correlated (AR(1), ρ = 0.9)
// and whose scales differ per column (a few large ones, as real activations have): the case where error feedback
// has something to exploit.
std::vector<float> correlated_covariance(std::int64_t cols, std::int64_t n, std::uint64_t seed) {
  Rng rng{seed};
  std::vector<double> scale(static_cast<std::size_t>(cols)), h(static_cast<std::size_t>(cols * cols), 0.0), x(static_cast<std::size_t>(cols));
  for (auto& s : scale) s = 0.5 + rng.uniform() * (rng.uniform() < 0.05 ? 8.0 : 1.0);
  const double rho = 0.9, innov = std::sqrt(1.0 - rho * rho);
  for (std::int64_t t = 0; t < n; ++t) {
    double z = rng.gauss();
    for (std::int64_t j = 0; j < cols; ++j) {
      z = rho * z + innov * rng.gauss();
      x[static_cast<std::size_t>(j)] = z * scale[static_cast<std::size_t>(j)];
    }
    for (std::int64_t i = 0; i < cols; ++i)
      for (std::int64_t j = 0; j < cols; ++j)
        h[static_cast<std::size_t>(i * cols + j)] += x[static_cast<std::size_t>(i)] * x[static_cast<std::size_t>(j)];
  }
  return {h.begin(), h.end()};
}

std::vector<float> gaussian_weights(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  Rng rng{seed};
  std::vector<float> w(static_cast<std::size_t>(rows * cols));
  for (auto& v : w) v = static_cast<float>(0.02 * rng.gauss());
  return w;
}

// The mean square input per column (an imatrix's quant_weights) from the covariance's diagonal.
std::vector<float> diagonal_importance(const std::vector<float>& h, std::int64_t cols, std::int64_t n) {
  std::vector<float> d(static_cast<std::size_t>(cols));
  for (std::int64_t j = 0; j < cols; ++j) d[static_cast<std::size_t>(j)] = h[static_cast<std::size_t>(j * cols + j)] / static_cast<float>(n);
  return d;
}

TEST(ErrorFeedback, FactorInvertsTheDampenedCovariance) {
  const std::int64_t cols = 64, n = 256;
  const std::vector<float> h = correlated_covariance(cols, n, 7);
  const double damp = 0.01;
  const std::vector<double> u = error_feedback_factor(h.data(), cols, damp);
  ASSERT_EQ(u.size(), static_cast<std::size_t>(cols * cols));
  double mean_diag = 0;
  for (std::int64_t j = 0; j < cols; ++j) mean_diag += h[static_cast<std::size_t>(j * cols + j)];
  mean_diag /= static_cast<double>(cols);
  // U upper triangular with a positive diagonal, and (Uᵀ U)(H + λI) = I.
  double worst = 0;
  for (std::int64_t i = 0; i < cols; ++i) {
    EXPECT_GT(u[static_cast<std::size_t>(i * cols + i)], 0.0);
    for (std::int64_t j = 0; j < i; ++j) EXPECT_EQ(u[static_cast<std::size_t>(i * cols + j)], 0.0);
  }
  for (std::int64_t i = 0; i < cols; ++i)
    for (std::int64_t j = 0; j < cols; ++j) {
      double s = 0;
      for (std::int64_t k = 0; k < cols; ++k) {
        double hinv_ik = 0;
        for (std::int64_t m = 0; m <= std::min(i, k); ++m)
          hinv_ik += u[static_cast<std::size_t>(m * cols + i)] * u[static_cast<std::size_t>(m * cols + k)];
        const double hd = h[static_cast<std::size_t>(k * cols + j)] + (k == j ? damp * mean_diag : 0.0);
        s += hinv_ik * hd;
      }
      worst = std::max(worst, std::fabs(s - (i == j ? 1.0 : 0.0)));
    }
  EXPECT_LT(worst, 1e-6);
}

TEST(ErrorFeedback, AllZeroCovarianceMeansPlainRounding) {
  const std::vector<float> h(32 * 32, 0.0f);
  EXPECT_TRUE(error_feedback_factor(h.data(), 32, 0.01).empty());
}

TEST(ErrorFeedback, DeadColumnsAndSingularCovarianceStillFactor) {
  // Rank one (every input the same direction) with a column that never saw input: dampening makes it definite.
  const std::int64_t cols = 32;
  std::vector<float> h(static_cast<std::size_t>(cols * cols), 0.0f);
  for (std::int64_t i = 1; i < cols; ++i)
    for (std::int64_t j = 1; j < cols; ++j) h[static_cast<std::size_t>(i * cols + j)] = static_cast<float>(i * j);
  const std::vector<double> u = error_feedback_factor(h.data(), cols, 0.0);
  ASSERT_EQ(u.size(), static_cast<std::size_t>(cols * cols));
  for (double v : u) EXPECT_TRUE(std::isfinite(v));
}

class ErrorFeedbackType : public ::testing::TestWithParam<WeightType> {};

TEST_P(ErrorFeedbackType, LowersTheHessianWeightedErrorAndWritesValidBlocks) {
  const WeightType type = GetParam();
  const std::int64_t rows = 24, cols = 512, n = 2048;
  const std::vector<float> h = correlated_covariance(cols, n, 11);
  const std::vector<float> w = gaussian_weights(rows, cols, 13);
  const std::vector<float> importance = diagonal_importance(h, cols, n);
  const std::size_t bytes = static_cast<std::size_t>(rows) * weight_row_bytes(type, static_cast<std::size_t>(cols));
  std::vector<std::uint8_t> plain(bytes), feedback(bytes);
  quantize_ggml(type, w.data(), plain.data(), rows, cols, importance.data());
  quantize_ggml_error_feedback(type, w.data(), feedback.data(), rows, cols, importance.data(), error_feedback_factor(h.data(), cols, 0.01));

  const double e_plain = hessian_weighted_error(type, w.data(), plain.data(), rows, cols, h.data());
  const double e_feedback = hessian_weighted_error(type, w.data(), feedback.data(), rows, cols, h.data());
  std::cout << "[error feedback] " << weight_type_name(type) << ": H-weighted error " << e_plain << " plain, " << e_feedback
            << " with feedback (" << e_feedback / e_plain << "x)\n";
  EXPECT_LT(e_feedback, 0.8 * e_plain);

  // Valid blocks: every value decodes finite and stays near its weight (the feedback moves a value by about a
  // rounding step of its neighbours, not by the weights' own size).
  std::vector<float> decoded(static_cast<std::size_t>(rows * cols)), again(decoded.size());
  dequantize_ggml(type, feedback.data(), decoded.data(), rows * cols);
  double max_w = 0, max_diff = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    ASSERT_TRUE(std::isfinite(decoded[i])) << "value " << i;
    max_w = std::max(max_w, static_cast<double>(std::fabs(w[i])));
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(decoded[i] - w[i])));
  }
  EXPECT_LT(max_diff, max_w);
}

INSTANTIATE_TEST_SUITE_P(Types, ErrorFeedbackType,
                         ::testing::Values(WeightType::Q8_0, WeightType::Q4_0, WeightType::Q5_0, WeightType::Q5_1, WeightType::Q6_K, WeightType::Q5_K, WeightType::Q4_K, WeightType::Q3_K,
                                           WeightType::Q2_K, WeightType::IQ4_NL, WeightType::IQ4_XS, WeightType::IQ2_S),
                         [](const auto& p) { return std::string(weight_type_name(p.param)); });

// Q4_0/Q5_0/Q5_1 weight a block by qw·sqrt(σ² + x²) with σ² the whole row's mean square. With an uncorrelated,
// unit covariance nothing is fed forward, so the block quantizer's first choice stands: every block's scale (and
// Q5_1's min) must be the one the row quantizer picks, which it is only if each block got the row's σ², not its own.
TEST(ErrorFeedback, RowWideTypesWeighEachBlockByTheWholeRow) {
  const std::int64_t rows = 8, cols = 256, n = 512;
  const std::vector<float> importance = diagonal_importance(correlated_covariance(cols, n, 5), cols, n);
  std::vector<float> w = gaussian_weights(rows, cols, 17);
  for (std::int64_t r = 0; r < rows; ++r) w[static_cast<std::size_t>(r * cols + 3)] = 0.3f;  // one outlier per row: σ² ≫ most blocks'
  std::vector<float> identity(static_cast<std::size_t>(cols * cols), 0.0f);
  for (std::int64_t j = 0; j < cols; ++j) identity[static_cast<std::size_t>(j * cols + j)] = 1.0f;
  const std::vector<double> u = error_feedback_factor(identity.data(), cols, 0.0);
  for (WeightType type : {WeightType::Q4_0, WeightType::Q5_0, WeightType::Q5_1}) {
    const std::size_t bb = weight_block_bytes(type), scale_bytes = type == WeightType::Q5_1 ? 4 : 2;
    const std::size_t bytes = static_cast<std::size_t>(rows) * weight_row_bytes(type, static_cast<std::size_t>(cols));
    std::vector<std::uint8_t> plain(bytes), feedback(bytes);
    quantize_ggml(type, w.data(), plain.data(), rows, cols, importance.data());
    quantize_ggml_error_feedback(type, w.data(), feedback.data(), rows, cols, importance.data(), u);
    int same_codes = 0, blocks = 0;
    for (std::size_t b = 0; b < bytes; b += bb, ++blocks) {
      for (std::size_t k = 0; k < scale_bytes; ++k) EXPECT_EQ(feedback[b + k], plain[b + k]) << weight_type_name(type) << " block " << b / bb;
      same_codes += std::equal(plain.begin() + static_cast<std::ptrdiff_t>(b + scale_bytes), plain.begin() + static_cast<std::ptrdiff_t>(b + bb),
                               feedback.begin() + static_cast<std::ptrdiff_t>(b + scale_bytes));
    }
    // The codes are re-chosen nearest under the stored scale; the fit chose them under its search's trial scale,
    // before refitting the scale by least squares, so a few blocks differ (Q5_0: 53 of 64 here).
    EXPECT_GE(same_codes, blocks * 3 / 4) << weight_type_name(type);
  }
}

TEST(ErrorFeedback, RefusesOtherTypesAndMismatchedFactors) {
  const std::vector<float> w(256, 0.1f);
  std::vector<std::uint8_t> out(256);
  const std::vector<double> u256(256 * 256, 0.0);
  EXPECT_TRUE(ggml_error_feedback_supports(WeightType::Q5_0));
  EXPECT_FALSE(ggml_error_feedback_supports(WeightType::IQ3_S));
  EXPECT_THROW(quantize_ggml_error_feedback(WeightType::IQ3_S, w.data(), out.data(), 1, 256, nullptr, u256), Error);
  const std::vector<double> u32(32 * 32, 0.0);
  EXPECT_THROW(quantize_ggml_error_feedback(WeightType::Q8_0, w.data(), out.data(), 1, 64, nullptr, u32), Error);
}

TEST(InputCovarianceFile, RoundTripsAndRejectsOtherFiles) {
  const std::string dir = testing::TempDir();
  InputCovariance c;
  c.datasets = {"calib.txt"};
  c.chunk_count = 3;
  c.chunk_size = 512;
  CovarianceEntry& e = c.entries["blk.1.ffn_up_exps.weight"];
  e.slices = 2;
  e.cols = 3;
  for (int i = 0; i < 18; ++i) e.xtx.push_back(static_cast<float>(i) * 0.5f);
  e.counts = {10.0f, 0.0f};
  const std::string path = dir + "/covariance.gguf";
  write_input_covariance(path, c);
  const InputCovariance r = read_input_covariance(path);
  ASSERT_EQ(r.entries.size(), 1u);
  const CovarianceEntry* got = r.find("blk.1.ffn_up_exps.weight");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->slices, 2);
  EXPECT_EQ(got->cols, 3);
  EXPECT_EQ(got->xtx, e.xtx);
  EXPECT_EQ(got->counts, e.counts);
  EXPECT_EQ(got->slice(1), got->xtx.data() + 9);
  EXPECT_EQ(r.datasets, c.datasets);
  EXPECT_EQ(r.chunk_count, 3);
  EXPECT_EQ(r.chunk_size, 512);

  CovarianceEntry& bad = c.entries["x.weight"];
  bad.slices = 1;
  bad.cols = 2;
  bad.xtx = {1.0f, 2.0f};  // 2 of 4 values
  bad.counts = {1.0f};
  EXPECT_THROW(write_input_covariance(dir + "/bad.gguf", c), Error);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace glmq
