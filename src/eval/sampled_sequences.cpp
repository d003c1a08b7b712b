#include "eval/sampled_sequences.h"

#include "core/error.h"
#include "eval/numpy_permutation.h"

namespace glmq::eval {

TokenRows sample_sequences(const TokenRows& documents, std::int64_t samples, std::int64_t length, std::uint32_t seed) {
  if (samples < 1) fail(ErrorKind::InvalidArgument, "--samples must be at least 1, got " + std::to_string(samples));
  if (length < 2) fail(ErrorKind::InvalidArgument, "--seq must be at least 2, got " + std::to_string(length));
  const auto order = numpy_legacy_permutation(static_cast<std::int64_t>(documents.size()), seed);
  const std::int64_t wanted = samples * length;
  std::vector<std::int32_t> stream;
  for (std::size_t i = 0; i < order.size() && static_cast<std::int64_t>(stream.size()) < wanted; ++i) {
    const auto& doc = documents[static_cast<std::size_t>(order[i])];
    stream.insert(stream.end(), doc.begin(), doc.end());
  }
  TokenRows rows;
  for (std::int64_t start = 0;
       start + length <= static_cast<std::int64_t>(stream.size()) && static_cast<std::int64_t>(rows.size()) < samples;
       start += length)
    rows.emplace_back(stream.begin() + start, stream.begin() + start + length);
  return rows;
}

TokenRows split_into_rows(const std::vector<std::int32_t>& tokens, std::int64_t length) {
  if (length < 2) fail(ErrorKind::InvalidArgument, "--seq must be at least 2, got " + std::to_string(length));
  TokenRows rows;
  for (std::int64_t start = 0; start + length <= static_cast<std::int64_t>(tokens.size()); start += length)
    rows.emplace_back(tokens.begin() + start, tokens.begin() + start + length);
  return rows;
}

}  // namespace glmq::eval
