// The read ceiling of the routed expert kernels' shape: how fast one kernel that only reads (and xors) 75.5 MB
// streams it from HBM with 512 blocks of 512 threads, each warp 4 rows of 2304 bytes (a GLM-5.2 gate_up row of
// affine3 codes) read in 16-byte pieces with several steps in flight, against the same bytes read contiguously
// and with more steps in flight or more blocks per multiprocessor. Then the same for a whole GLM-5.2 layer's
// weights (mixed-3.5): one plain read kernel per product of the decode step, back to back in a CUDA graph (the
// most a layer made of one kernel per product could stream if it did nothing but read) in stream order or as
// programmatic dependents (waiting before their loads, or after their first ones as glmq's products do), and all
// of them in one kernel (the most any structure could). bench/cuda/README.md has the figures.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <utility>
#include <vector>

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

// How a read kernel of the layer chain starts, launched as a programmatic dependent of the one before it (as
// glmq's kernels are) or not: WAIT_FIRST waits for its predecessor before any load (an input it reads first),
// LOAD_FIRST issues its first 8 loads per thread before the wait (glmq's products: weights do not depend on it).
enum class Start { Plain, WaitFirst, LoadFirst };

// Reads n 16-byte pieces contiguously, 8 per thread in flight, grid-stride.
template <Start START>
__global__ void __launch_bounds__(kThreads) read_span(const uint4* p, std::int64_t n, unsigned* sink) {
  if constexpr (START != Start::Plain) asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
  if constexpr (START == Start::WaitFirst) asm volatile("griddepcontrol.wait;" ::: "memory");
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
  unsigned acc = 0;
  bool first = true;
  for (std::int64_t s = blockIdx.x * static_cast<std::int64_t>(kThreads) + threadIdx.x; s < n; s += 8 * stride) {
    uint4 v[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) v[j] = s + j * stride < n ? load_streaming(p + s + j * stride) : make_uint4(0, 0, 0, 0);
    if (START == Start::LoadFirst && first) asm volatile("griddepcontrol.wait;" ::: "memory");
    first = false;
#pragma unroll
    for (int j = 0; j < 8; ++j) acc ^= v[j].x ^ v[j].y ^ v[j].z ^ v[j].w;
  }
  if (START == Start::LoadFirst && first) asm volatile("griddepcontrol.wait;" ::: "memory");
  if (acc == 0x12345678u) *sink = acc;
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

// The bytes each product of a GLM-5.2 decode step reads in the mixed-3.5 recipe (affine4 g64 with bf16 scales
// and biases: 4.5 bits per weight; the routed experts affine3: 3.5; router and indexer head weights bf16), in
// the order the step runs them, for an indexer ("full") layer or a "shared" one; the latents and indexer keys
// as bench_cuda_decode_layer counts them at context 4096 (float32, the latents twice).
std::vector<std::int64_t> layer_reads(bool full) {
  constexpr double a4 = 4.5 / 8, a3 = 3.5 / 8;
  constexpr double hidden = 6144, q_lora = 2048, kv_a = 576, heads = 64, qk = 256, nope = 192, v = 256,
                   latent = 512, inter = 2048, routed = 8, router = 256, ix_heads = 32, ix_dim = 128;
  std::vector<double> r;
  r.push_back((q_lora + kv_a + (full ? ix_dim : 0)) * hidden * a4 + (full ? ix_heads * hidden * 2 : 0));
  r.push_back(q_lora * (heads * qk + (full ? ix_heads * ix_dim : 0)) * a4);
  if (full) r.push_back(4096 * ix_dim * 4);
  r.push_back(heads * nope * latent * a4);
  r.push_back(2.0 * 2048 * (latent + 64) * 4);
  r.push_back(heads * latent * v * a4);
  r.push_back(heads * v * hidden * a4);
  r.push_back(router * hidden * 2 + 2 * inter * hidden * a4);
  r.push_back(hidden * inter * a4);
  r.push_back(routed * 2 * inter * hidden * a3);
  r.push_back(routed * hidden * inter * a3);
  std::vector<std::int64_t> pieces;
  for (double b : r) pieces.push_back(static_cast<std::int64_t>(b / 16));
  return pieces;
}

// Per layer (mean of a full and a shared one): graphs of 1 and 2 (full, shared) pairs, each layer reading its own
// bytes, replayed; (t2 − t1) / 2 so launch and graph overheads cancel, as bench_cuda_decode_layer does.
struct LayerCeiling {
  double plain_us = 0, wait_first_us = 0, load_first_us = 0, one_kernel_us = 0, bytes = 0;
};

void launch_read(Start start, unsigned blocks, cudaStream_t s, const uint4* p, std::int64_t n, unsigned* sink) {
  auto* kernel = start == Start::Plain       ? read_span<Start::Plain>
                 : start == Start::WaitFirst ? read_span<Start::WaitFirst>
                                             : read_span<Start::LoadFirst>;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = start == Start::Plain ? 0 : 1;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(blocks);
  config.blockDim = dim3(kThreads);
  config.stream = s;
  config.attrs = &attribute;
  config.numAttrs = 1;
  cudaLaunchKernelEx(&config, kernel, p, n, sink);
}

bool layer_ceiling(int sms, LayerCeiling& out) {
  const std::vector<std::int64_t> full = layer_reads(true), shared = layer_reads(false);
  std::int64_t pair = 0;
  for (std::int64_t n : full) pair += n;
  for (std::int64_t n : shared) pair += n;
  out.bytes = static_cast<double>(pair) * 16 / 2;
  uint4* data = nullptr;
  unsigned* sink = nullptr;
  if (!check(cudaMalloc(&data, 2 * pair * 16), "cudaMalloc") || !check(cudaMalloc(&sink, sizeof(unsigned)), "cudaMalloc"))
    return false;
  fill<<<1024, 256>>>(data, 2 * pair, 3);
  cudaStream_t s;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  // start: how each product's kernel starts; fused: the whole run in one kernel.
  auto time_graph = [&](int pairs, Start start, bool fused) {
    cudaGraph_t g;
    cudaGraphExec_t e;
    cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
    const uint4* p = data;
    if (fused) {
      launch_read(Start::Plain, 2 * sms, s, p, pairs * pair, sink);
    } else {
      for (int i = 0; i < pairs; ++i)
        for (const auto* layer : {&full, &shared})
          for (std::int64_t n : *layer) {
            const auto blocks = static_cast<unsigned>(std::min<std::int64_t>((n + 8 * kThreads - 1) / (8 * kThreads), 2 * sms));
            launch_read(start, blocks, s, p, n, sink);
            p += n;
          }
    }
    cudaStreamEndCapture(s, &g);
    cudaGraphInstantiate(&e, g, 0);
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    float best = 1e30f;
    for (int rep = 0; rep < 20; ++rep) {
      cudaEventRecord(a, s);
      cudaGraphLaunch(e, s);
      cudaEventRecord(b, s);
      cudaEventSynchronize(b);
      float ms = 0.0f;
      cudaEventElapsedTime(&ms, a, b);
      if (rep >= 2 && ms < best) best = ms;  // the first replays upload the graph
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    cudaGraphExecDestroy(e);
    cudaGraphDestroy(g);
    return static_cast<double>(best) * 1e3;
  };
  const auto per_layer = [&](Start start, bool fused) { return (time_graph(2, start, fused) - time_graph(1, start, fused)) / 2; };
  out.plain_us = per_layer(Start::Plain, false);
  out.wait_first_us = per_layer(Start::WaitFirst, false);
  out.load_first_us = per_layer(Start::LoadFirst, false);
  out.one_kernel_us = per_layer(Start::Plain, true);
  const bool ok = check(cudaStreamSynchronize(s), "layer reads");
  cudaFree(data);
  cudaFree(sink);
  cudaStreamDestroy(s);
  return ok;
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
  cudaFree(data);
  cudaFree(flush);
  // The yardstick of bench_cuda_decode_layer: a 1 GiB device-to-device copy, read + write bytes.
  const std::int64_t copy_bytes = std::int64_t{1} << 30;
  void *from = nullptr, *to = nullptr;
  if (!check(cudaMalloc(&from, copy_bytes), "cudaMalloc") || !check(cudaMalloc(&to, copy_bytes), "cudaMalloc")) return 1;
  float copy_ms = 1e30f;
  for (int rep = 0; rep < 5; ++rep) {
    cudaEventRecord(start);
    cudaMemcpy(to, from, copy_bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(stop);
    if (!check(cudaEventSynchronize(stop), "copy")) return 1;
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, start, stop);
    if (ms < copy_ms) copy_ms = ms;
  }
  cudaFree(from);
  cudaFree(to);
  const double copy_gbs = 2.0 * static_cast<double>(copy_bytes) / (copy_ms * 1e-3) / 1e9;
  std::printf("device-to-device copy (1 GiB, read + write)      %5.0f GB/s\n", copy_gbs);
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  LayerCeiling c;
  if (!layer_ceiling(sms, c)) return 1;
  std::printf("GLM-5.2 layer, mixed-3.5 weights (%.1f MB), per layer in a CUDA graph:\n", c.bytes / 1e6);
  for (const auto& [what, us] : {std::pair{"a read kernel per product, stream order", c.plain_us},
                                 std::pair{"the same, dependent launches, wait first", c.wait_first_us},
                                 std::pair{"the same, dependent launches, loads first", c.load_first_us},
                                 std::pair{"one read kernel", c.one_kernel_us}})
    std::printf("  %-44s %6.1f us  %5.0f GB/s  %3.0f%% of copy\n", what, us, c.bytes / (us * 1e-6) / 1e9,
                100.0 * c.bytes / (us * 1e-6) / 1e9 / copy_gbs);
  return 0;
}
