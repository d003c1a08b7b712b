#pragma once
// How the backend's ops cut a matrix product into pool chunks (work_pool.h).
#include <algorithm>
#include <cstdint>

#include "backend/cpu/work_pool.h"

namespace glmq::cpu {

// A chunk is ~32k multiply-adds (a few microseconds): big enough that claiming it (tens of ns) is noise, small enough
// that two threads share even a 256-row matrix-vector product.
inline constexpr std::int64_t kChunkWork = 1 << 15;
// Tokens per chunk in prefill: 64 rows of int8 activations of a 6144-wide layer are 384 KiB, within L2, and each
// weight row is decoded once per 4 of them.
inline constexpr std::int64_t kTokenBlock = 64;

// Weight rows per chunk for rows of `cols` and `tokens` tokens: a multiple of 4 (the float kernels block 4 rows).
inline std::int64_t rows_per_chunk(std::int64_t rows, std::int64_t cols, std::int64_t tokens) {
  const std::int64_t per = std::max<std::int64_t>(4, kChunkWork / std::max<std::int64_t>(1, cols * tokens) / 4 * 4);
  return std::min(per, std::max<std::int64_t>(rows, 1));
}

// Chunks as row blocks × token blocks (consecutive chunks share a token block, so its activations stay in cache).
struct Split {
  std::int64_t rows = 0, n = 0, rows_per = 1, row_blocks = 0, tokens_per = 1, token_blocks = 0;
  Split(std::int64_t rows_, std::int64_t cols, std::int64_t n_) : rows(rows_), n(n_) {
    tokens_per = std::max<std::int64_t>(1, std::min(n, kTokenBlock));
    token_blocks = (n + tokens_per - 1) / tokens_per;
    rows_per = rows_per_chunk(rows, cols, tokens_per);
    row_blocks = (rows + rows_per - 1) / rows_per;
  }
  std::int64_t chunks() const { return row_blocks * token_blocks; }
  // body(r0, r1, t0, t1) for chunk c.
  template <class Body>
  void run_chunk(std::int64_t c, Body& body) const {
    const std::int64_t rb = c % row_blocks, tb = c / row_blocks;
    const std::int64_t r0 = rb * rows_per, t0 = tb * tokens_per;
    body(r0, std::min(rows, r0 + rows_per), t0, std::min(n, t0 + tokens_per));
  }
};

// Per-token preparation (rounding, reordering) of rows [0, n) in parallel once there is enough of it.
template <class Body>
void for_token_ranges(WorkPool& pool, std::int64_t n, std::int64_t cols, Body&& body) {
  const std::int64_t per = std::max<std::int64_t>(1, kChunkWork / 4 / std::max<std::int64_t>(1, cols));
  pool.run((n + per - 1) / per, [&](std::int64_t c) { body(c * per, std::min(n, (c + 1) * per)); });
}

}  // namespace glmq::cpu
