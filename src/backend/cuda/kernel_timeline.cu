#include "backend/cuda/kernel_timeline.h"

#include <cstdint>
#include <map>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"

namespace glmq::cuda {

namespace {

__global__ void timeline_probe_kernel(std::uint64_t* slot) {
  allow_dependents();
  wait_for_inputs();
  std::uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  *slot = t;
}

struct Recording {
  bool on = false;
  std::uint64_t* slots = nullptr;
  std::size_t capacity = 0;
  std::vector<std::string> kernels;
  std::vector<cudaStream_t> streams;
};
Recording& recording() {
  static Recording r;
  return r;
}

}  // namespace

void kernel_timeline_begin(std::size_t capacity) {
  Recording& r = recording();
  if (r.slots) cudaFree(r.slots);
  r = Recording{};
  check(cudaMalloc(&r.slots, capacity * sizeof(std::uint64_t)), "kernel timeline slots");
  check(cudaMemset(r.slots, 0, capacity * sizeof(std::uint64_t)), "kernel timeline slots");
  r.capacity = capacity;
  r.on = true;
}

void kernel_timeline_end() { recording().on = false; }

bool kernel_timeline_recording() { return recording().on; }

void kernel_timeline_probe(const char* kernel, cudaStream_t stream) {
  Recording& r = recording();
  if (!r.on || r.kernels.size() >= r.capacity) return;
  // Not through launch(), which would probe the probe.
  cudaLaunchAttribute attribute{};
  const cudaLaunchConfig_t config = launch_config(1, 1, 0, stream, true, attribute);
  check(cudaLaunchKernelEx(&config, timeline_probe_kernel, r.slots + r.kernels.size()), "kernel timeline probe");
  r.kernels.emplace_back(kernel);
  r.streams.push_back(stream);
}

std::vector<KernelEnd> kernel_timeline_read() {
  Recording& r = recording();
  check(cudaDeviceSynchronize(), "kernel timeline");
  std::vector<std::uint64_t> t(r.kernels.size());
  if (!t.empty())
    check(cudaMemcpy(t.data(), r.slots, t.size() * sizeof(std::uint64_t), cudaMemcpyDeviceToHost), "kernel timeline");
  std::uint64_t first = UINT64_MAX;
  for (std::uint64_t v : t)
    if (v != 0 && v < first) first = v;
  std::map<cudaStream_t, int> numbers;
  std::vector<KernelEnd> out;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const int stream = numbers.emplace(r.streams[i], static_cast<int>(numbers.size())).first->second;
    out.push_back({r.kernels[i], stream, t[i] ? static_cast<double>(t[i] - first) * 1e-3 : -1.0});
  }
  return out;
}

}  // namespace glmq::cuda
