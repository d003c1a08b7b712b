#pragma once
// Programmatic dependent launch (Hopper): the backend's kernels are launched with
// cudaLaunchAttributeProgrammaticStreamSerialization (all but those launch_ordered puts in plain stream order:
// the routed experts' gate+up), so the next kernel in the stream may already be resident
// (launched, its codebooks staged, its first weight loads issued) while the one before it finishes. A decode
// step is ~35 dependent kernels per layer, most of them a few microseconds long, so the launch and ramp-up
// each would otherwise add between two kernels is a large part of the step.
//
// The contract every kernel of the backend keeps (the launch below is only correct with it):
//  - allow_dependents() first: the next kernel may launch once every block of this one has started;
//  - wait_for_inputs() in every block before it reads memory an earlier kernel or copy wrote, and before any
//    store (the kernel before may still read what this one overwrites). Weights and codebooks do not change
//    while kernels run, so they may be read before. Since every block waits before it exits, no kernel
//    completes before its predecessor, and ordering stays transitive down the stream (a kernel that waits
//    only for its direct predecessor also sees everything before it).
// Launched without the attribute (or after a copy), griddepcontrol.wait returns at once; GLMQ_CUDA_SERIAL_LAUNCH=1
// in the environment launches every kernel so (plain stream order), to measure what the overlap gains, and
// GLMQ_CUDA_ORDERED=name,name,... only the kernels launched under those names (`launch`'s first argument), or
// with ":N" after a name only its launches of at least N blocks.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernel_timeline.h"

namespace glmq::cuda {

__device__ __forceinline__ void allow_dependents() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }
__device__ __forceinline__ void wait_for_inputs() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
// Both, for kernels that have nothing to do before their inputs are ready.
__device__ __forceinline__ void begin_dependent_kernel() {
  allow_dependents();
  wait_for_inputs();
}

// The configuration of a launch, as a programmatic dependent of the stream's previous kernel where `early`;
// `attribute` (the caller's, alive until the launch) holds that setting.
inline cudaLaunchConfig_t launch_config(dim3 grid, dim3 block, std::size_t smem, cudaStream_t stream, bool early,
                                        cudaLaunchAttribute& attribute) {
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = early ? 1 : 0;
  return config;
}

// Whether GLMQ_CUDA_ORDERED (above) puts the launch of `blocks` blocks under `name` in plain stream order.
inline bool ordered_by_environment(const char* name, std::int64_t blocks) {
  static const char* list = std::getenv("GLMQ_CUDA_ORDERED");
  if (list == nullptr) return false;
  const std::size_t n = std::strlen(name);
  for (const char* p = list; *p != '\0';) {
    const char* end = p + std::strcspn(p, ",");
    const char* colon = std::find(p, end, ':');
    const bool match = static_cast<std::size_t>(colon - p) == n && std::strncmp(p, name, n) == 0;
    if (match && (colon == end || blocks >= std::atoll(colon + 1))) return true;
    p = *end == ',' ? end + 1 : end;
  }
  return false;
}

// kernel<<<grid, block, smem, stream>>>(args...), as a programmatic dependent of the stream's previous kernel
// where `early` (launch below), else in plain stream order; checks the launch (`name` in the error). While a
// kernel timeline records (kernel_timeline.h), a probe follows.
template <typename... Params, typename... Args>
void launch_ordered(bool early, const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem,
                    cudaStream_t stream, Args&&... args) {
  static const bool serial = std::getenv("GLMQ_CUDA_SERIAL_LAUNCH") != nullptr;
  const std::int64_t blocks = std::int64_t{grid.x} * grid.y * grid.z;
  cudaLaunchAttribute attribute{};
  const cudaLaunchConfig_t config =
      launch_config(grid, block, smem, stream, early && !serial && !ordered_by_environment(name, blocks), attribute);
  check(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...), name);
  if (kernel_timeline_recording()) kernel_timeline_probe(name, stream);
}

// Dynamic shared memory (bytes) that holds `kernel`'s grid of `blocks` blocks to at most ⌈blocks / SMs⌉ resident
// blocks per multiprocessor (0 where its own resources already do), with the kernel's dynamic limit raised to
// the most the device allows: never lowered, since a captured graph keeps the size of its own launch (a decode
// step captured at 4K positions replays after an eager launch at 8K asked for less). A dependent kernel
// launches while its predecessor's last blocks still run, and its blocks then pile onto the multiprocessors
// that free first: the indexer's score blocks (128 at 4K positions, up to 6 per
// multiprocessor by their shared memory) took 20 instead of 10 µs of a GLM-5.2 layer on an H100 when they
// followed q_b's product directly, whose last wave they launched beside. Latency-bound grids of about one wave
// run fastest spread one per multiprocessor.
template <typename... Params>
std::size_t smem_spreading(void (*kernel)(Params...), std::int64_t blocks) {
  int device = 0, sms = 0, per_sm_bytes = 0, reserved = 0, optin = 0;
  check(cudaGetDevice(&device), "reading the device");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "reading the SM count");
  check(cudaDeviceGetAttribute(&per_sm_bytes, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device), "reading shared memory");
  check(cudaDeviceGetAttribute(&reserved, cudaDevAttrReservedSharedMemoryPerBlock, device), "reading shared memory");
  check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device), "reading shared memory");
  cudaFuncAttributes attributes{};
  check(cudaFuncGetAttributes(&attributes, kernel), "reading a kernel's attributes");
  const std::int64_t per_sm = std::max<std::int64_t>(1, (blocks + sms - 1) / sms);
  // Blocks whose shared memory (and the per-block reservation) exceeds 1 / (per_sm + 1) of a multiprocessor's.
  const std::int64_t total = per_sm_bytes / (per_sm + 1) + 1 - reserved;
  const std::int64_t dynamic = total - static_cast<std::int64_t>(attributes.sharedSizeBytes);
  if (dynamic <= 0 || total > optin) return 0;
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             optin - static_cast<int>(attributes.sharedSizeBytes)),
        "raising a kernel's shared memory");
  return static_cast<std::size_t>(dynamic);
}

// The launch of every kernel of the backend: a programmatic dependent of the stream's previous kernel.
template <typename... Params, typename... Args>
void launch(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem, cudaStream_t stream,
            Args&&... args) {
  launch_ordered(true, name, kernel, grid, block, smem, stream, std::forward<Args>(args)...);
}

}  // namespace glmq::cuda
