// The strided-perplexity window schedule: MODEL.md's numbers, every prediction scored exactly once, bad
// arguments rejected.
#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "eval/strided_windows.h"

namespace glmq::eval {
namespace {

std::vector<int> times_scored(std::int64_t n, const std::vector<StridedWindow>& windows) {
  std::vector<int> count(static_cast<std::size_t>(n), 0);
  for (const auto& w : windows)
    for (std::int64_t t = w.first_target; t < w.end; ++t) ++count[static_cast<std::size_t>(t)];
  return count;
}

TEST(StridedWindows, MatchesGlmMiniModelCard) {
  // python-code-test.txt: 104,692 tokens, 104,691 predictions scored with ctx 512 / stride 256.
  const std::int64_t n = 104692;
  auto windows = plan_strided_windows(n, 512, 256);
  ASSERT_GE(windows.size(), 3u);
  EXPECT_EQ(windows[0].begin, 0);
  EXPECT_EQ(windows[0].end, 512);
  EXPECT_EQ(windows[0].first_target, 1);  // the first window scores all of its own predictions
  // Window k (1-based, as MODEL.md counts) covers [256k − 256, 256k + 256) and scores its last 256.
  EXPECT_EQ(windows[1].begin, 256);
  EXPECT_EQ(windows[1].end, 768);
  EXPECT_EQ(windows[1].first_target, 512);
  EXPECT_EQ(windows.back().end, n);
  std::int64_t scored = 0;
  for (const auto& w : windows) {
    EXPECT_LE(w.end - w.begin, 512);
    EXPECT_GT(w.first_target, w.begin);
    scored += w.end - w.first_target;
  }
  EXPECT_EQ(scored, 104691);
  auto count = times_scored(n, windows);
  EXPECT_EQ(count[0], 0);
  for (std::int64_t t = 1; t < n; ++t) ASSERT_EQ(count[static_cast<std::size_t>(t)], 1) << "token " << t;
}

TEST(StridedWindows, EveryPredictionOnceForAssortedShapes) {
  for (std::int64_t n : {2, 3, 100, 511, 512, 513, 1000, 1025})
    for (auto [ctx, stride] :
         {std::pair<std::int64_t, std::int64_t>{512, 256}, {2048, 1024}, {64, 63}, {64, 1}, {10, 7}}) {
      auto windows = plan_strided_windows(n, ctx, stride);
      auto count = times_scored(n, windows);
      for (std::int64_t t = 1; t < n; ++t)
        ASSERT_EQ(count[static_cast<std::size_t>(t)], 1)
            << "n " << n << " ctx " << ctx << " stride " << stride << " token " << t;
      for (const auto& w : windows) ASSERT_LE(w.end - w.begin, ctx);
    }
}

TEST(StridedWindows, ShortTextIsOneWindow) {
  auto windows = plan_strided_windows(300, 512, 256);
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(windows[0].begin, 0);
  EXPECT_EQ(windows[0].end, 300);
  EXPECT_EQ(windows[0].first_target, 1);
}

TEST(StridedWindows, RejectsBadArguments) {
  EXPECT_THROW(plan_strided_windows(1, 512, 256), Error);
  EXPECT_THROW(plan_strided_windows(1000, 1, 1), Error);
  EXPECT_THROW(plan_strided_windows(1000, 512, 0), Error);
  EXPECT_THROW(plan_strided_windows(1000, 512, 512), Error);  // windows must overlap
}

}  // namespace
}  // namespace glmq::eval
