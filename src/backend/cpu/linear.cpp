#include <omp.h>

#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/row_kernels.h"

namespace glmq {

namespace {
// Below this many multiply-adds a parallel region costs more than it saves.
constexpr std::int64_t kParallelWork = 1 << 15;
}

void CpuBackend::linear(const WeightMatrix& w, const float* x, std::int64_t n, float* y) {
  const std::int64_t rows = w.rows, cols = w.cols;
  const bool parallel = rows * cols * n >= kParallelWork && threads_ > 1;
  if (n == 1) {
#pragma omp parallel for schedule(static) num_threads(threads_) if (parallel)
    for (std::int64_t r = 0; r < rows; ++r) y[r] = cpu::dot_row(w, r, x);
    return;
  }
  // Several tokens: convert each weight row once, then use it for every token.
#pragma omp parallel num_threads(threads_) if (parallel)
  {
    std::vector<float> row(static_cast<std::size_t>(cols));
#pragma omp for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
      cpu::row_to_f32(w, r, row.data());
      for (std::int64_t t = 0; t < n; ++t) y[t * rows + r] = cpu::dot_f32(row.data(), x + t * cols, cols);
    }
  }
}

}  // namespace glmq
