// RMSNorm, LayerNorm (one block per row) and rotary embeddings.
#include <algorithm>
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/norm_rope.cuh"

namespace glmq::cuda {

namespace {

__global__ void rms_norm_kernel(const float* x, std::int64_t x_stride, const float* w, std::int64_t dim, float eps,
                                float* y) {
  begin_dependent_kernel();
  rms_norm_row(x + blockIdx.x * x_stride, w, dim, eps, y + blockIdx.x * dim);
}

// One block of kNormQ8Threads per row (rms_norm_q8_row).
__global__ void __launch_bounds__(kNormQ8Threads) rms_norm_q8_kernel(float* x, std::int64_t x_stride, const float* residual,
                                                                     const float* w, std::int64_t dim, float eps, float* y,
                                                                     Q8View out) {
  allow_dependents();
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * dim;
  rms_norm_q8_row(x + blockIdx.x * x_stride, residual ? residual + row : nullptr, w, dim, eps, y + row, out.q + row,
                  out.ds + row / 32);
}

__global__ void layer_norm_kernel(const float* x, const float* w, const float* b, std::int64_t dim, float eps, float* y) {
  begin_dependent_kernel();
  layer_norm_row(x + blockIdx.x * dim, w, b, dim, eps, y + blockIdx.x * dim);
}

// One block per (row, head).
__global__ void rope_kernel(float* x, std::int64_t row_stride, std::int64_t head_stride, std::int64_t offset,
                            const std::int32_t* positions, RopeTable t) {
  begin_dependent_kernel();
  const std::int64_t row = blockIdx.x, head = blockIdx.y;
  rope_row(x + row * row_stride + head * head_stride + offset, static_cast<float>(positions[row]), t);
}

unsigned norm_threads(std::int64_t dim) { return dim >= 1024 ? 1024u : dim >= 256 ? 256u : 64u; }

}  // namespace

void launch_rms_norm(const float* x, std::int64_t x_stride, const float* w, std::int64_t n, std::int64_t dim, float eps,
                     float* y, cudaStream_t s) {
  if (n <= 0) return;
  launch("rms_norm", rms_norm_kernel, static_cast<unsigned>(n), norm_threads(dim), 0, s, x, x_stride, w, dim, eps, y);
}

bool rms_norm_q8_applies(std::int64_t dim, std::int64_t x_stride, std::initializer_list<const float*> rows) {
  const bool aligned = std::all_of(rows.begin(), rows.end(),
                                   [](const float* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; });
  return dim % 32 == 0 && dim <= 4 * kNormQ8Threads * kNormQ8MaxQuads && x_stride % 4 == 0 && aligned;
}

void launch_rms_norm_q8(const float* x, std::int64_t x_stride, const float* w, std::int64_t n, std::int64_t dim, float eps,
                        float* y, const Q8View& out, cudaStream_t s) {
  if (n <= 0) return;
  if (!rms_norm_q8_applies(dim, x_stride, {x, y, w}))
    fail(ErrorKind::InvalidArgument, "rms_norm_q8: dim " + std::to_string(dim) + " or row alignment unsupported");
  // Read-only here: the kernel writes x only when given a residual.
  launch("rms_norm_q8", rms_norm_q8_kernel, static_cast<unsigned>(n), kNormQ8Threads, 0, s, const_cast<float*>(x), x_stride,
         static_cast<const float*>(nullptr), w, dim, eps, y, out);
}

void launch_add_rms_norm_q8(float* x, const float* y, const float* w, std::int64_t n, std::int64_t dim, float eps, float* out,
                            const Q8View& out_q8, cudaStream_t s) {
  if (n <= 0) return;
  if (!rms_norm_q8_applies(dim, dim, {x, y, out, w}))
    fail(ErrorKind::InvalidArgument, "add_rms_norm_q8: dim " + std::to_string(dim) + " or row alignment unsupported");
  launch("add_rms_norm_q8", rms_norm_q8_kernel, static_cast<unsigned>(n), kNormQ8Threads, 0, s, x, dim, y, w, dim, eps, out,
         out_q8);
}

void launch_layer_norm(const float* x, const float* w, const float* b, std::int64_t n, std::int64_t dim, float eps, float* y,
                       cudaStream_t s) {
  if (n <= 0) return;
  launch("layer_norm", layer_norm_kernel, static_cast<unsigned>(n), norm_threads(dim), 0, s, x, w, b, dim, eps, y);
}

void launch_rope(float* x, std::int64_t n, std::int64_t row_stride, std::int64_t heads, std::int64_t head_stride,
                 std::int64_t offset, const std::int32_t* positions, const RopeTable& table, cudaStream_t s) {
  if (n <= 0 || heads <= 0) return;
  const dim3 grid(static_cast<unsigned>(n), static_cast<unsigned>(heads));
  launch("rope", rope_kernel, grid, 64, 0, s, x, row_stride, head_stride, offset, positions, table);
}

}  // namespace glmq::cuda
