// Writing float rows into a KV cache in its storage format (kv_store.cuh: bit for bit the CPU's), and reading
// cache rows back as floats.

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/kv_decode.cuh"
#include "backend/cuda/kv_store.cuh"
#include "backend/cuda/launch_util.cuh"

namespace glmq::cuda {

namespace {

__device__ __forceinline__ std::int64_t thread_index() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t thread_count() { return static_cast<std::int64_t>(gridDim.x) * blockDim.x; }

// Source row r goes to cache row rows[r] where rows is given (read on the device: a captured decode step's
// positions), else first + r.
__global__ void store_float_kernel(KvView v, std::int64_t first, const std::int32_t* rows, const float* src,
                                   std::int64_t stride, std::int64_t n) {
  begin_dependent_kernel();
  for (std::int64_t i = thread_index(); i < n * v.width; i += thread_count()) {
    const std::int64_t r = i / v.width, c = i % v.width;
    store_kv_value(v, rows ? rows[r] : first + r, c, src[r * stride + c]);
  }
}

// One warp per (row, group).
__global__ void store_quantized_kernel(KvView v, std::int64_t first, const std::int32_t* rows, const float* src,
                                       std::int64_t stride, std::int64_t n) {
  begin_dependent_kernel();
  const int lane = static_cast<int>(threadIdx.x & 31);
  for (std::int64_t w = thread_index() >> 5; w < n * v.groups; w += thread_count() >> 5) {
    const std::int64_t r = w / v.groups, g = w % v.groups;
    store_kv_group(v, rows ? rows[r] : first + r, g, src + r * stride + (g << v.group_shift), lane);
  }
}

__global__ void load_kernel(KvView v, std::int64_t first, std::int64_t n, float* dst) {
  begin_dependent_kernel();
  for (std::int64_t i = thread_index(); i < n * v.width; i += thread_count())
    dst[i] = kv_value(v, first + i / v.width, i % v.width);
}

}  // namespace

KvView kv_view(const KvRows& rows) {
  KvView v;
  v.format = rows.format;
  v.width = rows.width;
  v.data = rows.data;
  v.scales = rows.scales;
  v.biases = rows.biases;
  if (kv_quantized(rows.format)) {
    const std::int64_t g = rows.group_size;
    if (g <= 0 || (g & (g - 1)) != 0 || rows.width % g != 0 || (rows.format == KvFormat::Q4 && g < 2))
      fail(ErrorKind::InvalidArgument, "CUDA KV rows need a power-of-two group size dividing the row, found " +
                                           std::to_string(g) + " for rows of " + std::to_string(rows.width));
    v.groups = rows.width / g;
    while ((std::int64_t{1} << v.group_shift) < g) ++v.group_shift;
  }
  return v;
}

void launch_store_kv_rows(const KvView& dst, std::int64_t first, const std::int32_t* rows, const float* src,
                          std::int64_t src_stride, std::int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  if (kv_quantized(dst.format)) {
    launch("store_kv_rows_quantized", store_quantized_kernel, grid_for(n * dst.groups * 32), kThreads, 0, s, dst, first,
           rows, src, src_stride, n);
  } else {
    launch("store_kv_rows", store_float_kernel, grid_for(n * dst.width), kThreads, 0, s, dst, first, rows, src,
           src_stride, n);
  }
}

void launch_load_kv_rows(const KvView& src, std::int64_t first, std::int64_t n, float* dst, cudaStream_t s) {
  if (n <= 0) return;
  launch("load_kv_rows", load_kernel, grid_for(n * src.width), kThreads, 0, s, src, first, n, dst);
}

}  // namespace glmq::cuda
