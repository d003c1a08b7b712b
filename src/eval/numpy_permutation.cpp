#include "eval/numpy_permutation.h"

#include <numeric>
#include <random>
#include <utility>

namespace glmq::eval {

namespace {
// numpy's random_interval: a uniform integer in [0, max] by masking 32-bit (or 64-bit) draws to the smallest
// all-ones mask covering max and rejecting values above it.
std::uint64_t random_interval(std::mt19937& mt, std::uint64_t max) {
  if (max == 0) return 0;
  std::uint64_t mask = max;
  for (int shift = 1; shift <= 32; shift *= 2) mask |= mask >> shift;
  std::uint64_t value;
  if (max <= 0xffffffffull) {
    do value = mt() & mask;
    while (value > max);
  } else {
    do {
      const std::uint64_t hi = mt(), lo = mt();  // numpy's next_uint64 on MT19937: high word first
      value = ((hi << 32) | lo) & mask;
    } while (value > max);
  }
  return value;
}
}  // namespace

std::vector<std::int64_t> numpy_legacy_permutation(std::int64_t n, std::uint32_t seed) {
  // np.random.seed(int) runs MT19937's init_genrand, which is what std::mt19937(seed) does.
  std::mt19937 mt(seed);
  std::vector<std::int64_t> order(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
  std::iota(order.begin(), order.end(), 0);
  // Fisher–Yates from the back, as numpy's legacy shuffle does.
  for (std::int64_t i = n - 1; i >= 1; --i) {
    const auto j = static_cast<std::int64_t>(random_interval(mt, static_cast<std::uint64_t>(i)));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

}  // namespace glmq::eval
