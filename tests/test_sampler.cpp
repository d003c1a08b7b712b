// Sampling: greedy, the cuts (top-k, top-p, min-p), penalties, and draws that follow the softmax.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "runtime/sampler.h"
#include "runtime/session.h"

namespace glmq {
namespace {

const std::vector<float> kLogits{1.0f, 3.0f, 2.0f, 0.0f, 2.5f};

std::vector<int> histogram(const SamplingParams& p, int draws) {
  Sampler s(p);
  std::vector<int> h(kLogits.size());
  for (int i = 0; i < draws; ++i) ++h[static_cast<std::size_t>(s.sample(kLogits, {}))];
  return h;
}

TEST(Sampler, GreedyAndCuts) {
  EXPECT_EQ(Sampler({}).sample(kLogits, {}), 1);
  const auto top1 = histogram({.temperature = 1.0f, .top_k = 1}, 200);
  EXPECT_EQ(top1[1], 200);
  // top-k 2 keeps ids 1 and 4 only.
  const auto top2 = histogram({.temperature = 1.0f, .top_k = 2, .seed = 3}, 2000);
  EXPECT_EQ(top2[0] + top2[2] + top2[3], 0);
  // min-p 0.5: ids within ln 2 of the best (1 and 4) survive.
  const auto minp = histogram({.temperature = 1.0f, .min_p = 0.5f, .seed = 4}, 2000);
  EXPECT_EQ(minp[0] + minp[2] + minp[3], 0);
  EXPECT_GT(minp[4], 0);
  // top-p 0.4: id 1 alone holds 46% of the mass.
  const auto topp = histogram({.temperature = 1.0f, .top_p = 0.4f, .seed = 5}, 500);
  EXPECT_EQ(topp[1], 500);
}

TEST(Sampler, UncutDrawsFollowTheSoftmax) {
  const int n = 40000;
  const auto h = histogram({.temperature = 1.0f, .seed = 7}, n);
  double z = 0;
  for (float l : kLogits) z += std::exp(l);
  for (std::size_t i = 0; i < kLogits.size(); ++i) {
    const double p = std::exp(kLogits[i]) / z;
    EXPECT_NEAR(static_cast<double>(h[i]) / n, p, 4.0 * std::sqrt(p * (1 - p) / n) + 1e-3) << i;
  }
}

TEST(Sampler, PenaltiesAndValidation) {
  Sampler s({.presence_penalty = 2.0f});
  const std::vector<std::int32_t> history{1};
  EXPECT_EQ(s.sample(kLogits, history), 4);  // 3 − 2 < 2.5
  EXPECT_THROW(Sampler({.temperature = -1.0f}), Error);
  EXPECT_THROW(Sampler({.top_p = 0.0f}), Error);
  EXPECT_THROW(Sampler({.min_p = 1.5f}), Error);
}

// argmax (session.h) is vectorised; it must give std::max_element's index: the first of equal maxima (+0 and -0 are
// equal), a NaN only when it comes first, any length (whole 16-lane vectors and a tail).
TEST(Argmax, MatchesMaxElement) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> level(-3, 3);
  auto expected = [](const std::vector<float>& v) {
    return static_cast<std::int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
  };
  for (std::size_t n : {1, 5, 16, 17, 40, 8192})
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<float> v(n);
      for (auto& x : v) x = static_cast<float>(level(rng));  // few levels: many ties
      if (trial % 5 == 1) v[rng() % n] = NAN;
      if (trial % 5 == 2) v[0] = NAN;
      if (trial % 5 == 3)
        for (auto& x : v) x = (rng() % 2) ? 0.0f : -0.0f;
      EXPECT_EQ(argmax(v), expected(v)) << "n " << n << " trial " << trial;
    }
}

}  // namespace
}  // namespace glmq
