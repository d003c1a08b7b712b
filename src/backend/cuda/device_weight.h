#pragma once
// A weight matrix resident in device memory, in its stored type: the codes in the host WeightMatrix's layout,
// so kernels read the checkpoint's bytes as they are. Affine types' per-group scales and biases are
// interleaved on the device (scale g at element 2g of `scales`, bias g at element 2g of `biases` =
// scales + one element; aux_row_bytes is the row stride of the pairs), so one load fetches a group's pair:
// separate 2-byte loads of each made the decode-path products issue-bound below the memory bandwidth.
// Plain data: passed to kernels by value and kept in device tables for MoE experts.
#include <cstdint>

#include "quant/weight_type.h"

namespace glmq::cuda {

// The GGML block types the CUDA kernels read: bytes and elements per block (0 for types without CUDA kernels).
// The one list both the host (which weights the backend accepts) and the kernels (block geometry) use.
constexpr int cuda_ggml_block_bytes(WeightType t) {
  switch (t) {
    case WeightType::Q8_0: return 34;
    case WeightType::Q4_0: return 18;
    case WeightType::Q5_0: return 22;
    case WeightType::Q5_1: return 24;
    case WeightType::Q2_K: return 84;
    case WeightType::Q3_K: return 110;
    case WeightType::Q4_K: return 144;
    case WeightType::Q5_K: return 176;
    case WeightType::Q6_K: return 210;
    case WeightType::IQ4_NL: return 18;
    case WeightType::IQ4_XS: return 136;
    case WeightType::IQ2_XXS: return 66;
    case WeightType::IQ2_S: return 82;
    case WeightType::IQ3_S: return 110;
    default: return 0;
  }
}
constexpr int cuda_ggml_block_elems(WeightType t) {
  switch (t) {
    case WeightType::Q8_0:
    case WeightType::Q4_0:
    case WeightType::Q5_0:
    case WeightType::Q5_1:
    case WeightType::IQ4_NL: return 32;
    default: return cuda_ggml_block_bytes(t) > 0 ? 256 : 0;
  }
}

struct DeviceWeight {
  WeightType type = WeightType::F32;
  WeightType aux_type = WeightType::BF16;
  std::int32_t group_size = 0;
  std::int64_t rows = 0, cols = 0;
  std::int64_t row_bytes = 0, aux_row_bytes = 0;
  const std::uint8_t* data = nullptr;
  const std::uint8_t* scales = nullptr;
  const std::uint8_t* biases = nullptr;
  // I-quant codebook in device memory (the IQ2_XXS / IQ2_S / IQ3_S grid, the IQ4_NL / IQ4_XS levels); null for
  // other types.
  const std::uint8_t* codebook = nullptr;
};

// The three matrices of a SwiGLU block on the device; MoE layers keep a device table of these per expert.
struct DeviceSwiglu {
  DeviceWeight gate, up, down;
};

}  // namespace glmq::cuda
