#pragma once
// A file of per-prediction log-probabilities from one build, the base that another build's KL divergence is
// measured against (llama-perplexity's --kl-divergence-base file plays the same role).
//
// Layout, little-endian: a 32-byte header {"GLMQLPF1", u32 vocab, u32 top_k, u64 rows, u64 zero}, then one
// record per scored prediction, in scoring order:
//   u32 target id, u32 top-1 id, f32 log p(target), then
//   top_k == 0: vocab × f16 log-probabilities (the full distribution; 2 bytes per vocabulary entry), or
//   top_k  > 0: top_k × {u32 id, f32 log-probability}, most probable first (the rest is kept as one bucket).
// log-probabilities are computed in double and rounded once when written.
#include <cstdint>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace glmq::eval {

struct BaseDistribution {
  std::int32_t target = 0, top1 = 0;
  double target_log_prob = 0;
  // top_k == 0: log-probabilities of every id (renormalised after f16 rounding); else the top-k ids and theirs.
  std::vector<std::int32_t> ids;
  std::vector<double> log_probs;
};

class LogProbWriter {
 public:
  // top_k == 0 stores the full distribution; top_k must not exceed vocab.
  LogProbWriter(const std::string& path, std::int64_t vocab, std::int64_t top_k);
  ~LogProbWriter();
  LogProbWriter(const LogProbWriter&) = delete;
  LogProbWriter& operator=(const LogProbWriter&) = delete;
  void write(std::span<const double> log_probs, std::int32_t target);
  // Writes the row count into the header and closes the file; errors are Io errors naming the file.
  void finish();

 private:
  std::string path_;
  std::ofstream out_;
  std::int64_t vocab_, top_k_, rows_ = 0;
  std::vector<std::int32_t> order_;
  std::vector<char> record_;
  bool finished_ = false;
};

class LogProbReader {
 public:
  explicit LogProbReader(const std::string& path);
  std::int64_t vocab() const { return vocab_; }
  std::int64_t top_k() const { return top_k_; }
  std::int64_t rows() const { return rows_; }
  // Reads the next record; reading past the last is an error naming the file.
  void read(BaseDistribution& out);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream in_;
  std::int64_t vocab_ = 0, top_k_ = 0, rows_ = 0, next_row_ = 0;
  std::vector<char> record_;
};

std::size_t logprob_record_bytes(std::int64_t vocab, std::int64_t top_k);

}  // namespace glmq::eval
