// The read ceiling of the routed expert kernels' shape: how fast one kernel that only reads (and xors) 75.5 MB
// streams it from HBM with 512 blocks of 512 threads, each warp 4 rows of 2304 bytes (a GLM-5.2 gate_up row of
// affine3 codes) read in 16-byte pieces with several steps in flight, against the same bytes read contiguously
// and with more steps in flight or more blocks per multiprocessor. bench/cuda/README.md has the H100's figures.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>

namespace {

constexpr int kRowBytes = 2304, kRowPieces = kRowBytes / 16, kRowsPerBlock = 64, kThreads = 512, kBlocks = 512;

__device__ __forceinline__ uint4 load_streaming(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::evict_first.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

enum class Shape { FourConsecutiveRows, RowsSixteenApart, BlockContiguous };

// Each block reads its 64 rows: in SHAPE, with DEPTH steps of 4 rows' pieces in flight per warp.
template <Shape SHAPE, int MIN_BLOCKS, int DEPTH>
__global__ void __launch_bounds__(kThreads, MIN_BLOCKS) read_rows(const uint4* base, unsigned* sink) {
  const uint4* p = base + static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock * kRowPieces;
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  unsigned acc = 0;
  if constexpr (SHAPE == Shape::BlockContiguous) {
    constexpr int kTotal = kRowsPerBlock * kRowPieces;
    for (int s = 0; s < kTotal; s += 8 * kThreads) {
      uint4 v[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const int c = s + j * kThreads + static_cast<int>(threadIdx.x);
        v[j] = c < kTotal ? load_streaming(p + c) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int j = 0; j < 8; ++j) acc ^= v[j].x ^ v[j].y ^ v[j].z ^ v[j].w;
    }
  } else {
    int row[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) row[k] = SHAPE == Shape::FourConsecutiveRows ? 4 * warp + k : warp + 16 * k;
    for (int s = 0; s < kRowPieces; s += 32 * DEPTH) {
      uint4 v[4 * DEPTH];
#pragma unroll
      for (int j = 0; j < DEPTH; ++j)
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          const int c = s + 32 * j + lane;
          v[4 * j + k] = c < kRowPieces ? load_streaming(p + row[k] * kRowPieces + c) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
      for (int j = 0; j < 4 * DEPTH; ++j) acc ^= v[j].x ^ v[j].y ^ v[j].z ^ v[j].w;
    }
  }
  if (acc == 0x12345678u) *sink = acc;  // keeps the loads
}

__global__ void fill(uint4* p, std::int64_t n, unsigned v) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
    p[i] = make_uint4(v, v + 1, v + 2, v + 3);
}

bool check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) std::fprintf(stderr, "bench_read_ceiling: %s failed: %s\n", what, cudaGetErrorString(e));
  return e == cudaSuccess;
}

}  // namespace

int main() {
  const std::int64_t bytes = std::int64_t{kBlocks} * kRowsPerBlock * kRowBytes, flush_bytes = std::int64_t{256} << 20;
  uint4 *data = nullptr, *flush = nullptr;
  unsigned* sink = nullptr;
  if (!check(cudaMalloc(&data, bytes), "cudaMalloc") || !check(cudaMalloc(&flush, flush_bytes), "cudaMalloc") ||
      !check(cudaMalloc(&sink, sizeof(unsigned)), "cudaMalloc"))
    return 1;
  fill<<<1024, 256>>>(data, bytes / 16, 1);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  using Kernel = void (*)(const uint4*, unsigned*);
  const struct {
    const char* name;
    Kernel kernel;
  } variants[] = {
      {"warp: 4 consecutive rows, 2 steps in flight", read_rows<Shape::FourConsecutiveRows, 1, 2>},
      {"warp: 4 rows 16 apart, 2 steps in flight", read_rows<Shape::RowsSixteenApart, 1, 2>},
      {"block: its 147 KB contiguously", read_rows<Shape::BlockContiguous, 1, 2>},
      {"warp: 4 consecutive rows, 3 steps in flight", read_rows<Shape::FourConsecutiveRows, 1, 3>},
      {"warp: 4 consecutive rows, 5 steps in flight", read_rows<Shape::FourConsecutiveRows, 1, 5>},
      {"2 blocks per multiprocessor, 2 steps in flight", read_rows<Shape::FourConsecutiveRows, 2, 2>},
  };
  for (const auto& v : variants) {
    float best = 1e30f;
    for (int rep = 0; rep < 7; ++rep) {
      fill<<<1024, 256>>>(flush, flush_bytes / 16, static_cast<unsigned>(rep));  // evicts the data from L2
      cudaEventRecord(start);
      v.kernel<<<kBlocks, kThreads>>>(data, sink);
      cudaEventRecord(stop);
      if (!check(cudaEventSynchronize(stop), v.name)) return 1;
      float ms = 0.0f;
      cudaEventElapsedTime(&ms, start, stop);
      if (ms < best) best = ms;
    }
    std::printf("%-48s %6.1f us  %5.0f GB/s  (%.1f MB, best of 7)\n", v.name, best * 1e3,
                static_cast<double>(bytes) / (best * 1e-3) / 1e9, static_cast<double>(bytes) / 1e6);
  }
  return 0;
}
