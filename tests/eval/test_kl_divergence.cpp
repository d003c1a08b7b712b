// KL divergence against a saved base: the math, the stored file (full float16 and top-k) and its errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "eval/kl_divergence.h"
#include "eval/logprob_file.h"

namespace glmq::eval {
namespace {

std::vector<double> logs(std::vector<double> p) {
  for (auto& v : p) v = std::log(v);
  return p;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("glmq_eval_" + name)).string();
}

BaseDistribution full_base(const std::vector<double>& p, std::int32_t target) {
  BaseDistribution b;
  b.log_probs = logs(p);
  b.target = target;
  b.top1 = static_cast<std::int32_t>(std::max_element(p.begin(), p.end()) - p.begin());
  b.target_log_prob = std::log(p[static_cast<std::size_t>(target)]);
  return b;
}

TEST(KlDivergence, MatchesTheDefinition) {
  auto base = full_base({0.5, 0.25, 0.25}, 1);
  auto row = compare_with_base(base, logs({0.25, 0.5, 0.25}));
  EXPECT_NEAR(row.kld, 0.25 * std::log(2.0), 1e-12);  // 0.5·ln 2 + 0.25·ln ½
  EXPECT_FALSE(row.same_top);
  EXPECT_NEAR(row.delta_p, 0.25, 1e-12);
  auto same = compare_with_base(base, base.log_probs);
  EXPECT_NEAR(same.kld, 0.0, 1e-15);
  EXPECT_TRUE(same.same_top);
}

TEST(KlDivergence, TopKWithRestBucketIsALowerBound) {
  const std::vector<double> p = {0.6, 0.2, 0.1, 0.06, 0.04}, q = {0.3, 0.3, 0.2, 0.1, 0.1};
  const double full = compare_with_base(full_base(p, 0), logs(q)).kld;
  BaseDistribution top2 = full_base(p, 0);
  top2.ids = {0, 1};
  top2.log_probs = logs({0.6, 0.2});
  const double bucket = 0.6 * std::log(0.6 / 0.3) + 0.2 * std::log(0.2 / 0.3) + 0.2 * std::log(0.2 / 0.4);
  EXPECT_NEAR(compare_with_base(top2, logs(q)).kld, bucket, 1e-12);
  EXPECT_LE(bucket, full);
}

TEST(KlDivergence, StatsReportLikeLlamaPerplexity) {
  KldStats stats;
  stats.add({0.1, true, 0.01}, 2.0, 2.1);
  stats.add({0.3, false, -0.01}, 2.0, 2.3);
  EXPECT_NEAR(stats.mean_kld(), 0.2, 1e-12);
  EXPECT_NEAR(stats.same_top_fraction(), 0.5, 1e-12);
  EXPECT_NEAR(stats.max_kld(), 0.3, 1e-12);
  EXPECT_NEAR(stats.nll().perplexity() / stats.base_nll().perplexity(), std::exp(0.2), 1e-12);
  EXPECT_NE(stats.report().find("Same top p"), std::string::npos);
}

TEST(LogProbFile, RoundTripsFullAndTopK) {
  const std::vector<double> a = logs({0.7, 0.2, 0.05, 0.05}), b = logs({0.1, 0.1, 0.3, 0.5});
  for (std::int64_t k : {0, 2}) {
    const std::string path = temp_path("roundtrip_" + std::to_string(k));
    {
      LogProbWriter w(path, 4, k);
      w.write(a, 1);
      w.write(b, 3);
      w.finish();
    }
    LogProbReader r(path);
    EXPECT_EQ(r.rows(), 2);
    EXPECT_EQ(r.vocab(), 4);
    BaseDistribution d;
    r.read(d);
    EXPECT_EQ(d.target, 1);
    EXPECT_EQ(d.top1, 0);
    EXPECT_NEAR(d.target_log_prob, std::log(0.2), 1e-6);
    EXPECT_NEAR(compare_with_base(d, a).kld, 0.0, k == 0 ? 1e-6 : 1e-12);  // float16 storage: ~1e-3 relative
    r.read(d);
    EXPECT_EQ(d.top1, 3);
    if (k == 2) {
      EXPECT_EQ(d.ids, (std::vector<std::int32_t>{3, 2}));
    }
    EXPECT_THROW(r.read(d), Error);  // past the last row
    std::filesystem::remove(path);
  }
}

TEST(LogProbFile, RejectsForeignAndTruncatedFiles) {
  const std::string path = temp_path("bad");
  {
    std::ofstream f(path, std::ios::binary);
    f << "not a log-prob file at all, but long enough for a header";
  }
  try {
    LogProbReader r(path);
    FAIL() << "accepted a foreign file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("GLMQLPF1"), std::string::npos);
  }
  {
    LogProbWriter w(path, 4, 0);
    w.write(logs({0.25, 0.25, 0.25, 0.25}), 0);
    w.finish();
  }
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);
  EXPECT_THROW(LogProbReader{path}, Error);
  std::filesystem::remove(path);
  EXPECT_THROW((LogProbWriter{path, 4, 5}), Error);  // top-k beyond the vocabulary
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace glmq::eval
