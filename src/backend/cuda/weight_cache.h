#pragma once
// Device copies of the model's immutable host memory, keyed by host pointer: each weight matrix (codes,
// scales, biases), norm vectors, and per-MoE-layer device tables of expert matrices. Uploads happen on first
// use; later uses (and captured CUDA graphs) only read the cached copies.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/device_weight.h"

namespace glmq::cuda {

// An op that cannot be recorded in a CUDA graph, met while one is being captured: a weight's first use (its
// upload copies from pageable memory and waits for the device) or a read-back of device results to the host.
// CudaBackend::run_step then drops the capture and runs the step as issued.
class CaptureUnsupported : public std::runtime_error {
 public:
  explicit CaptureUnsupported(const char* what) : std::runtime_error(std::string("inside a CUDA graph capture: ") + what) {}
};

// The device layout of `rows` GGML rows of `cols` elements of a planar_on_device type (device_weight.h), rows
// planar_row_bytes(type, cols) apart.
std::vector<std::uint8_t> planar_rows(WeightType type, const std::uint8_t* ggml, std::int64_t rows, std::int64_t cols);
// IQ2_S's device codebook: the 1024 grid entries of 8 magnitude bytes (the float kernels'), then their 1024 level
// words (nibble k: the index in kIq2sMagnitudes of entry's magnitude k; the int8 kernels').
std::vector<std::uint8_t> iq2s_codebook();

class WeightCache {
 public:
  WeightCache() = default;
  WeightCache(const WeightCache&) = delete;
  WeightCache& operator=(const WeightCache&) = delete;
  ~WeightCache();

  const DeviceWeight& matrix(const WeightMatrix& w);
  // `count` floats at `host`; a longer request for the same pointer re-uploads.
  const float* vector(const float* host, std::int64_t count);
  // A device table of the n SwiGLU blocks at `blocks` (all of one type and shape); `probe` gets entry 0.
  const DeviceSwiglu* swiglu_table(const SwigluWeights* blocks, std::int64_t n, DeviceSwiglu& probe);
  // Drops every copy (for callers that free or reuse the host memory the keys point into).
  void clear();
  std::size_t bytes() const { return bytes_; }
  // While set, a first use throws CaptureUnsupported instead of uploading.
  void set_capturing(bool capturing) { capturing_ = capturing; }

 private:
  void* upload(const void* host, std::size_t bytes);
  // The device copy of an i-quant type's codebook (uploaded once per type); null for other types.
  const std::uint8_t* codebook(WeightType type);
  struct Vector {
    float* device;
    std::int64_t count;
  };
  struct Table {
    DeviceSwiglu* device;
    std::int64_t count;
    DeviceSwiglu probe;
    std::vector<const void*> sources;  // the host matrices it was built from, to detect a reused address
  };
  std::unordered_map<const void*, DeviceWeight> matrices_;
  std::unordered_map<const void*, Vector> vectors_;
  std::unordered_map<const void*, Table> tables_;
  std::unordered_map<int, const std::uint8_t*> codebooks_;
  std::vector<void*> allocations_;
  std::size_t bytes_ = 0;
  bool capturing_ = false;
};

}  // namespace glmq::cuda
