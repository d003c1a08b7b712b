#include "eval/logprob_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>

#include "core/error.h"
#include "core/float_convert.h"

namespace glmq::eval {

namespace {
constexpr char kMagic[8] = {'G', 'L', 'M', 'Q', 'L', 'P', 'F', '1'};
constexpr std::size_t kHeaderBytes = 32;
constexpr std::size_t kRecordHead = 12;  // target, top-1, log p(target)

template <typename T>
void put(char*& p, T v) {
  std::memcpy(p, &v, sizeof v);
  p += sizeof v;
}
template <typename T>
T take(const char*& p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  p += sizeof v;
  return v;
}
}  // namespace

std::size_t logprob_record_bytes(std::int64_t vocab, std::int64_t top_k) {
  return kRecordHead + (top_k == 0 ? static_cast<std::size_t>(vocab) * 2 : static_cast<std::size_t>(top_k) * 8);
}

LogProbWriter::LogProbWriter(const std::string& path, std::int64_t vocab, std::int64_t top_k)
    : path_(path), out_(path, std::ios::binary | std::ios::trunc), vocab_(vocab), top_k_(top_k) {
  if (top_k < 0 || top_k > vocab)
    fail(ErrorKind::InvalidArgument,
         "--kld-top-k must be in [0, vocab=" + std::to_string(vocab) + "], got " + std::to_string(top_k));
  if (!out_) fail(ErrorKind::Io, path + ": cannot create");
  char header[kHeaderBytes] = {};
  std::memcpy(header, kMagic, sizeof kMagic);
  char* p = header + sizeof kMagic;
  put(p, static_cast<std::uint32_t>(vocab));
  put(p, static_cast<std::uint32_t>(top_k));
  out_.write(header, kHeaderBytes);  // the row count is filled in by finish()
  record_.resize(logprob_record_bytes(vocab, top_k));
}

LogProbWriter::~LogProbWriter() = default;

void LogProbWriter::write(std::span<const double> log_probs, std::int32_t target) {
  if (static_cast<std::int64_t>(log_probs.size()) != vocab_)
    fail(ErrorKind::InvalidArgument, path_ + ": a row of " + std::to_string(log_probs.size()) +
                                         " log-probabilities, expected the vocabulary of " + std::to_string(vocab_));
  const auto top1 = static_cast<std::int32_t>(std::max_element(log_probs.begin(), log_probs.end()) - log_probs.begin());
  char* p = record_.data();
  put(p, static_cast<std::uint32_t>(target));
  put(p, static_cast<std::uint32_t>(top1));
  put(p, static_cast<float>(log_probs[static_cast<std::size_t>(target)]));
  if (top_k_ == 0) {
    for (double lp : log_probs) put(p, f32_to_f16(static_cast<float>(lp)));
  } else {
    order_.resize(log_probs.size());
    std::iota(order_.begin(), order_.end(), 0);
    std::partial_sort(order_.begin(), order_.begin() + top_k_, order_.end(), [&](std::int32_t a, std::int32_t b) {
      return log_probs[static_cast<std::size_t>(a)] > log_probs[static_cast<std::size_t>(b)];
    });
    for (std::int64_t i = 0; i < top_k_; ++i) {
      const std::int32_t id = order_[static_cast<std::size_t>(i)];
      put(p, static_cast<std::uint32_t>(id));
      put(p, static_cast<float>(log_probs[static_cast<std::size_t>(id)]));
    }
  }
  out_.write(record_.data(), static_cast<std::streamsize>(record_.size()));
  if (!out_) fail(ErrorKind::Io, path_ + ": write failed (disk full?)");
  ++rows_;
}

void LogProbWriter::finish() {
  if (finished_) return;
  finished_ = true;
  out_.seekp(sizeof kMagic + 8);
  const auto rows = static_cast<std::uint64_t>(rows_);
  out_.write(reinterpret_cast<const char*>(&rows), sizeof rows);
  out_.close();
  if (!out_) fail(ErrorKind::Io, path_ + ": write failed");
}

LogProbReader::LogProbReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  if (!in_) fail(ErrorKind::Io, path + ": cannot open");
  char header[kHeaderBytes];
  if (!in_.read(header, kHeaderBytes) || std::memcmp(header, kMagic, sizeof kMagic) != 0)
    fail(ErrorKind::Format, path +
                                ": not a glmq log-probability file (expected the magic GLMQLPF1, written by "
                                "`glmq ppl --save-logits`)");
  const char* p = header + sizeof kMagic;
  vocab_ = take<std::uint32_t>(p);
  top_k_ = take<std::uint32_t>(p);
  rows_ = static_cast<std::int64_t>(take<std::uint64_t>(p));
  if (vocab_ == 0 || top_k_ > vocab_)
    fail(ErrorKind::Format,
         path + ": header has vocab " + std::to_string(vocab_) + " and top_k " + std::to_string(top_k_));
  record_.resize(logprob_record_bytes(vocab_, top_k_));
  const auto expected = kHeaderBytes + static_cast<std::uintmax_t>(rows_) * record_.size();
  const auto found = std::filesystem::file_size(path);
  if (found != expected)
    fail(ErrorKind::Format, path + ": " + std::to_string(found) + " bytes, expected " + std::to_string(expected) +
                                " for " + std::to_string(rows_) + " rows (truncated or unfinished file?)");
}

void LogProbReader::read(BaseDistribution& out) {
  if (next_row_ >= rows_)
    fail(ErrorKind::Format, path_ + ": holds only " + std::to_string(rows_) +
                                " predictions, this run scores more (not the same text, --ctx or --stride?)");
  if (!in_.read(record_.data(), static_cast<std::streamsize>(record_.size())))
    fail(ErrorKind::Io, path_ + ": read failed at row " + std::to_string(next_row_));
  ++next_row_;
  const char* p = record_.data();
  out.target = static_cast<std::int32_t>(take<std::uint32_t>(p));
  out.top1 = static_cast<std::int32_t>(take<std::uint32_t>(p));
  out.target_log_prob = take<float>(p);
  if (top_k_ == 0) {
    out.ids.clear();
    out.log_probs.resize(static_cast<std::size_t>(vocab_));
    double max = -INFINITY;
    for (auto& lp : out.log_probs) {
      lp = f16_to_f32(take<std::uint16_t>(p));
      max = std::max(max, lp);
    }
    // f16 rounding leaves the probabilities summing to 1 ± 1e-3; renormalise so KL divergence stays >= 0.
    double sum = 0;
    for (double lp : out.log_probs) sum += std::exp(lp - max);
    const double lse = max + std::log(sum);
    for (auto& lp : out.log_probs) lp -= lse;
  } else {
    out.ids.resize(static_cast<std::size_t>(top_k_));
    out.log_probs.resize(static_cast<std::size_t>(top_k_));
    for (std::int64_t i = 0; i < top_k_; ++i) {
      out.ids[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(take<std::uint32_t>(p));
      out.log_probs[static_cast<std::size_t>(i)] = take<float>(p);
    }
  }
}

}  // namespace glmq::eval
