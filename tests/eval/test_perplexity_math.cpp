// Log-softmax in double, perplexity and its standard error, numpy's permutation and mlx_lm's sampling.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "eval/log_softmax.h"
#include "eval/nll_stats.h"
#include "eval/numpy_permutation.h"
#include "eval/sampled_sequences.h"

namespace glmq::eval {
namespace {

TEST(LogSoftmax, IsExactAndStableForLargeLogits) {
  std::vector<float> row = {1000.0f, 1000.0f, 1000.0f, 1000.0f};
  EXPECT_NEAR(token_log_prob(row, 2), -std::log(4.0), 1e-12);
  std::vector<float> skew = {0.0f, std::log(3.0f)};
  std::vector<double> lp;
  log_softmax(skew, lp);
  EXPECT_NEAR(std::exp(lp[0]), 0.25, 1e-7);
  EXPECT_NEAR(std::exp(lp[1]), 0.75, 1e-7);
}

TEST(NllStats, PerplexityAndDeltaMethodStderr) {
  NllStats s;
  for (double v : {1.0, 2.0, 3.0, 4.0}) s.add(v);
  EXPECT_DOUBLE_EQ(s.mean(), 2.5);
  EXPECT_NEAR(s.variance(), 5.0 / 3.0, 1e-12);  // ddof = 1, as mx.var(..., ddof=1)
  EXPECT_NEAR(s.perplexity(), std::exp(2.5), 1e-9);
  EXPECT_NEAR(s.perplexity_stderr(), std::exp(2.5) * std::sqrt(5.0 / 3.0 / 4.0), 1e-9);
}

TEST(NumpyPermutation, MatchesNumpyLegacySeeding) {
  // python3 -c "import numpy as np; np.random.seed(123); print(np.random.permutation(10))"
  std::vector<std::int64_t> want = {4, 0, 7, 5, 8, 3, 1, 6, 9, 2};
  EXPECT_EQ(numpy_legacy_permutation(10, 123), want);
  // ... permutation(100000)[:5]
  auto big = numpy_legacy_permutation(100000, 123);
  EXPECT_EQ(std::vector<std::int64_t>(big.begin(), big.begin() + 5),
            (std::vector<std::int64_t>{42083, 71825, 99535, 47879, 36734}));
  EXPECT_TRUE(numpy_legacy_permutation(0, 1).empty());
  EXPECT_EQ(numpy_legacy_permutation(1, 1), std::vector<std::int64_t>{0});
}

TEST(SampledSequences, ConcatenatesPermutedDocumentsIntoRows) {
  // Documents 0..9 hold tokens {d, d, d}; seed 123 orders them 4, 0, 7, 5, ...
  TokenRows docs;
  for (std::int32_t d = 0; d < 10; ++d) docs.push_back({d, d, d});
  auto rows = sample_sequences(docs, 2, 4, 123);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::int32_t>{4, 4, 4, 0}));
  EXPECT_EQ(rows[1], (std::vector<std::int32_t>{0, 0, 7, 7}));
  // Not enough text: as many whole rows as there are.
  EXPECT_EQ(sample_sequences(docs, 100, 4, 123).size(), 7u);
}

TEST(SampledSequences, PlainTextIsCutIntoConsecutiveRows) {
  std::vector<std::int32_t> tokens = {0, 1, 2, 3, 4, 5, 6};
  auto rows = split_into_rows(tokens, 3);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1], (std::vector<std::int32_t>{3, 4, 5}));
}

}  // namespace
}  // namespace glmq::eval
