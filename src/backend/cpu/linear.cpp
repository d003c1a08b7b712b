#include <omp.h>

#include <algorithm>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/gemm_f32.h"
#include "backend/cpu/row_kernels.h"

namespace glmq {

namespace {
// Below this many multiply-adds (~100 µs of work) a parallel region costs more than it saves: its fork and
// barrier take microseconds, and far more when another process holds a core (the barrier waits for a time slice).
constexpr std::int64_t kParallelWork = 1 << 20;
}

void CpuBackend::linear(const WeightMatrix& w, const float* x, std::int64_t n, float* y) {
  const std::int64_t rows = w.rows, cols = w.cols;
  if (observer_) observer_->observe(w, x, n, cols);
  const bool parallel = rows * cols * n >= kParallelWork && threads_ > 1;
  if (n == 1) {
#pragma omp parallel for schedule(static) num_threads(threads_) if (parallel)
    for (std::int64_t r = 0; r < rows; ++r) y[r] = cpu::dot_row(w, r, x);
    return;
  }
  // Several tokens: convert a tile of weight rows to float32 once, then run the register-blocked kernel over
  // every token. Tokens go in chunks so a chunk of activations stays in L2 while the tile sweeps it.
  constexpr std::int64_t kTileRows = 16, kTokenChunk = 64;
  const std::int64_t tiles = (rows + kTileRows - 1) / kTileRows;
#pragma omp parallel num_threads(threads_) if (parallel)
  {
    std::vector<float> tile(static_cast<std::size_t>(kTileRows * cols));
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t b = 0; b < tiles; ++b) {
      const std::int64_t r0 = b * kTileRows, nr = std::min(kTileRows, rows - r0);
      for (std::int64_t r = 0; r < nr; ++r) cpu::row_to_f32(w, r0 + r, tile.data() + r * cols);
      for (std::int64_t t0 = 0; t0 < n; t0 += kTokenChunk)
        cpu::gemm_f32_tile(tile.data(), nr, x + t0 * cols, std::min(kTokenChunk, n - t0), cols, y + t0 * rows + r0, rows);
    }
  }
}

}  // namespace glmq
