#pragma once
// The evaluation rows of sampled perplexity, built as mlx_lm.perplexity's load_data builds them: documents
// in numpy-permuted order (np.random.seed(seed)), concatenated until samples·length tokens, cut into rows of
// `length` tokens, the first `samples` rows kept.
#include <cstdint>
#include <string>
#include <vector>

namespace glmq::eval {

using TokenRows = std::vector<std::vector<std::int32_t>>;

// Fewer rows come back when the documents hold fewer than samples·length tokens (mlx_lm fails there).
TokenRows sample_sequences(const TokenRows& documents, std::int64_t samples, std::int64_t length, std::uint32_t seed);

// A plain text has no documents: its tokens are cut into consecutive rows of `length` tokens (the tail that
// does not fill a row is dropped) and those rows serve as the documents.
TokenRows split_into_rows(const std::vector<std::int32_t>& tokens, std::int64_t length);

}  // namespace glmq::eval
