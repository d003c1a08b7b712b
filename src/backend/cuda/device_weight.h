#pragma once
// A weight matrix resident in device memory, in its stored type: the same layout as the host WeightMatrix
// (codes, then separate per-group scales and biases for affine types), so kernels read the checkpoint's
// bytes as they are. Plain data: passed to kernels by value and kept in device tables for MoE experts.
#include <cstdint>

#include "quant/weight_type.h"

namespace glmq::cuda {

struct DeviceWeight {
  WeightType type = WeightType::F32;
  WeightType aux_type = WeightType::BF16;
  std::int32_t group_size = 0;
  std::int64_t rows = 0, cols = 0;
  std::int64_t row_bytes = 0, aux_row_bytes = 0;
  const std::uint8_t* data = nullptr;
  const std::uint8_t* scales = nullptr;
  const std::uint8_t* biases = nullptr;
  // I-quant codebook in device memory (IQ2_S grid, IQ4_NL levels); null for other types.
  const std::uint8_t* codebook = nullptr;
};

// The three matrices of a SwiGLU block on the device; MoE layers keep a device table of these per expert.
struct DeviceSwiglu {
  DeviceWeight gate, up, down;
};

}  // namespace glmq::cuda
