#pragma once
// A weight matrix resident in device memory, in its stored type: the codes in the host WeightMatrix's layout
// (but for the planar types below), so kernels read the checkpoint's bytes as they are. Affine types' per-group
// scales and biases are interleaved on the device (scale g at element 2g of `scales`, bias g at element 2g of `biases` =
// scales + one element; aux_row_bytes is the row stride of the pairs), so one load fetches a group's pair:
// separate 2-byte loads of each made the decode-path products issue-bound below the memory bandwidth.
// IQ2_S, Q8_0, Q4_0 and IQ4_NL rows are re-laid out into planes at upload (planar_on_device below). Plain data:
// passed to kernels by value and kept in device tables for MoE experts.
#include <cstddef>
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

// Planar rows. Where a GGML type's blocks are not a multiple of 4 bytes, their fields are only 2-byte aligned
// and a unit takes several loads of 1–4 bytes whose sectors scatter over each warp instruction (a GLM-5.2 layer
// of IQ2_S experts and IQ4_NL rest: 212.7 µs on an H100 that way, 204 µs planar; bench/cuda/README.md). Those
// types are re-laid out per row at upload (WeightCache), each row in planes, with the row stride rounded up to
// 16 bytes (same bytes per block):
//  - IQ2_S (units of 32 elements, 8 per 82-byte super-block): 8 bytes per unit, then 2 bytes per unit, then the
//    f16 d of each super-block. A unit is one aligned 8-byte load and two 2-byte ones (it was 5–7 loads of 1–4
//    bytes). The unit's bits are laid out for the int8 kernel's decode (q8_units.cuh, Iq2SQ8), not as GGML
//    stores them: its first word holds the four 10-bit grid indices (index l at bit 10·l; the last one's top
//    8 bits are the 2-byte field's low byte), so 4·index is a shift and a mask; its second word holds the 32
//    sign bits where iq2s_sign_bit puts them, so the signs of 4 consecutive elements are one shift away from
//    the selector of the byte permute that makes their signed int8 weights; the 2-byte field's high byte is
//    the scale byte (scale of grid points 0, 1 in its low nibble, of 2, 3 in its high one).
//  - Q8_0, Q4_0, IQ4_NL (blocks of 32 elements: f16 d, then 32 or 16 bytes of codes): the codes of every block,
//    then the d of every block. A unit's codes are one or two aligned 16-byte loads.
constexpr bool planar_on_device(WeightType t) {
  return t == WeightType::IQ2_S || t == WeightType::Q8_0 || t == WeightType::Q4_0 || t == WeightType::IQ4_NL;
}
// Bytes of codes per block of 32 elements in the f16-scaled planar types (their d plane follows).
constexpr std::int64_t planar_code_bytes(WeightType t) { return t == WeightType::Q8_0 ? 32 : 16; }
constexpr std::int64_t planar_row_bytes(WeightType t, std::int64_t cols) {
  const std::int64_t bytes = t == WeightType::IQ2_S ? cols / 256 * 82 : cols / 32 * (2 + planar_code_bytes(t));
  return (bytes + 15) / 16 * 16;
}
// Q8_0 / Q4_0 / IQ4_NL: byte offset of the d plane in a row of `units` blocks of `code_bytes` codes each.
constexpr std::int64_t f16_scaled_d_plane(std::int64_t units, std::int64_t code_bytes) { return units * code_bytes; }
// IQ2_S: byte offsets in a row of `units` units of the (qh, scale) plane and the d plane (the grid/sign plane
// is at 0).
constexpr std::int64_t iq2s_qh_plane(std::int64_t units) { return 8 * units; }
constexpr std::int64_t iq2s_d_plane(std::int64_t units) { return 10 * units; }
// The three magnitudes of IQ2_S grid points (iq2s_codebook's levels 0, 1, 2).
constexpr std::uint8_t kIq2sMagnitudes[3] = {8, 25, 43};
// IQ2_S: byte offset of its level words in the device codebook (after the 1024 8-byte grid entries).
constexpr std::size_t kIq2sLevelsOffset = 1024 * 8;
// IQ2_S: the bit of a unit's sign word that holds element e's sign (e < 32). Element e = 8·l + 4·h + j (grid
// point l, its half h, j within the half) sits at 16·h + 4·j + l: shifted by l − 2, grid point l's 8 signs land
// on bit 2 of each nibble — of the two halves' byte-permute selectors (q8_units.cuh, Iq2SQ8).
constexpr int iq2s_sign_bit(int e) { return 16 * ((e / 4) % 2) + 4 * (e % 4) + e / 8; }

struct DeviceWeight {
  WeightType type = WeightType::F32;
  WeightType aux_type = WeightType::BF16;
  std::int32_t group_size = 0;
  std::int64_t rows = 0, cols = 0;
  std::int64_t row_bytes = 0, aux_row_bytes = 0;  // row strides on the device (planar_row_bytes for planar types)
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
