#include <algorithm>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/gemm_f32.h"
#include "backend/cpu/row_kernels.h"
#include "backend/cpu/work_split.h"

namespace glmq {

void CpuBackend::linear(const WeightMatrix& w, const float* x, std::int64_t n, float* y) {
  if (observer_) observer_->observe(w, x, n, w.cols);
  input_.reset(w, x, n, w.cols, kernels_);
  if (n > 1 && input_.reference()) {
    // Reference kernels (or a type without a fast kernel): decode tiles once for many tokens.
    linear_tiles(w, x, n, y);
    return;
  }
  cpu::for_token_ranges(*pool_, n, w.cols, [&](std::int64_t t0, std::int64_t t1) { input_.prepare(t0, t1); });
  const cpu::Split s(w.rows, w.cols, n);
  auto body = [&](std::int64_t r0, std::int64_t r1, std::int64_t t0, std::int64_t t1) {
    input_.multiply(w, r0, r1, t0, t1, y, w.rows);
  };
  pool_->run(s.chunks(), [&](std::int64_t c) { s.run_chunk(c, body); });
}

void CpuBackend::linears(std::span<const LinearTarget> targets, const float* x, std::int64_t n) {
  if (targets.empty()) return;
  // The products whose kernels read x prepared one way share one preparation and one job over all their row blocks
  // (fewer waits for the pool, and small matrices no longer run alone on one thread); any others run one by one.
  const WeightMatrix& first = *targets[0].w;
  input_.reset(first, x, n, first.cols, kernels_);
  linear_parts_.clear();
  linear_others_.clear();
  std::int64_t chunks = 0;
  const bool shareable = !observer_ && !(n > 1 && input_.reference());
  for (const LinearTarget& t : targets) {
    if (!shareable || !input_.serves(*t.w, kernels_)) {
      linear_others_.push_back(t);
      continue;
    }
    linear_parts_.push_back({t, cpu::Split(t.w->rows, t.w->cols, n), chunks});
    chunks += linear_parts_.back().split.chunks();
  }
  if (linear_parts_.size() < 2) {
    for (const LinearTarget& t : targets) linear(*t.w, x, n, t.y);
    rotate_outputs(targets, n);
    return;
  }
  cpu::for_token_ranges(*pool_, n, first.cols, [&](std::int64_t t0, std::int64_t t1) { input_.prepare(t0, t1); });
  pool_->run(chunks, [&](std::int64_t c) {
    std::size_t i = linear_parts_.size() - 1;
    while (c < linear_parts_[i].first_chunk) --i;
    const LinearPart& part = linear_parts_[i];
    auto body = [&](std::int64_t r0, std::int64_t r1, std::int64_t t0, std::int64_t t1) {
      input_.multiply(*part.target.w, r0, r1, t0, t1, part.target.y, part.target.w->rows);
    };
    part.split.run_chunk(c - part.first_chunk, body);
  });
  for (const LinearTarget& t : linear_others_) linear(*t.w, x, n, t.y);
  rotate_outputs(targets, n);
}

void CpuBackend::linear_tiles(const WeightMatrix& w, const float* x, std::int64_t n, float* y) {
  const std::int64_t rows = w.rows, cols = w.cols;
  constexpr std::int64_t kTileRows = 16;
  const cpu::Split s(rows, cols, n);
  auto body = [&](std::int64_t r0, std::int64_t r1, std::int64_t t0, std::int64_t t1) {
    thread_local std::vector<float> tile;
    if (tile.size() < static_cast<std::size_t>(kTileRows * cols)) tile.resize(static_cast<std::size_t>(kTileRows * cols));
    for (std::int64_t b = r0; b < r1; b += kTileRows) {
      const std::int64_t nr = std::min(kTileRows, r1 - b);
      for (std::int64_t r = 0; r < nr; ++r) cpu::row_to_f32(w, b + r, tile.data() + r * cols);
      cpu::gemm_f32_tile(tile.data(), nr, x + t0 * cols, t1 - t0, cols, y + t0 * rows + b, rows);
    }
  };
  pool_->run(s.chunks(), [&](std::int64_t c) { s.run_chunk(c, body); });
}

}  // namespace glmq
