#pragma once
// numpy's legacy `np.random.seed(seed); np.random.permutation(n)`, reproduced bit for bit so that sampled
// perplexity picks the same documents in the same order as mlx_lm.perplexity (which seeds numpy that way).
#include <cstdint>
#include <vector>

namespace glmq::eval {

std::vector<std::int64_t> numpy_legacy_permutation(std::int64_t n, std::uint32_t seed);

}  // namespace glmq::eval
