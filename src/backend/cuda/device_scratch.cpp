#include "backend/cuda/device_scratch.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "backend/cuda/cuda_check.h"

namespace glmq::cuda {

DeviceScratch::~DeviceScratch() {
  for (auto& s : slots_) cudaFree(s.p);
  for (void* p : retired_) cudaFree(p);
}

void DeviceScratch::set_capturing(bool capturing) {
  capturing_ = capturing;
  if (capturing_) return;
  for (void* p : retired_) check(cudaFree(p), "freeing a work buffer");
  retired_.clear();
}

void* DeviceScratch::bytes(Scratch slot, std::size_t size) {
  Slot& s = slots_[static_cast<std::size_t>(slot)];
  if (size <= s.size && s.p) return s.p;
  // Grow by at least half again so that slowly growing requests do not reallocate every call.
  const std::size_t grown = std::max(size, s.size + s.size / 2);
  ++reallocations_;
  if (capturing_) {
    retired_.push_back(s.p);
  } else {
    check(cudaFree(s.p), "freeing a work buffer");
  }
  s.p = nullptr;
  s.size = 0;
  check(cudaMalloc(&s.p, std::max<std::size_t>(grown, 256)), ("allocating a " + std::to_string(grown) + "-byte work buffer").c_str());
  s.size = grown;
  return s.p;
}

std::size_t DeviceScratch::total_bytes() const {
  std::size_t n = 0;
  for (const auto& s : slots_) n += s.size;
  return n;
}

}  // namespace glmq::cuda
