#pragma once
// MLX affine quantization: the reference quantizer (as mx.quantize on the CPU: rint, true min/max, the
// zero-aligned sign trick) and dequantizer, and access to packed codes. See shared/docs/quant_mlx.md §1–2.
#include <cstdint>
#include <vector>

#include "quant/weight_matrix.h"

namespace glmq {

// Code i of a row packed as an LSB-first bit stream of `bits`-bit codes.
inline std::uint32_t affine_code(const std::uint8_t* row, std::int64_t i, int bits) {
  const std::uint64_t bit = static_cast<std::uint64_t>(i) * static_cast<std::uint64_t>(bits);
  const std::uint8_t* p = row + bit / 8;
  // A code spans at most 2 bytes (bits ≤ 8), so read two bytes; the second may lie past the row's end
  // only when the code fits in the first byte, in which case it is not read.
  const unsigned shift = static_cast<unsigned>(bit % 8);
  std::uint32_t v = p[0];
  if (shift + static_cast<unsigned>(bits) > 8) v |= static_cast<std::uint32_t>(p[1]) << 8;
  return (v >> shift) & ((1u << bits) - 1u);
}

// Codes [first, first + count) of a packed row as floats; `first` and `count` are multiples of 8 (every MLX group
// is), so each run of 8 codes fills exactly `bits` whole bytes.
void affine_codes_to_f32(const std::uint8_t* row, std::int64_t first, std::int64_t count, int bits, float* out);

// A scale or bias of an affine matrix as float32.
float affine_aux(const std::uint8_t* aux, WeightType aux_type, std::int64_t g);

// Dequantizes one row of an affine matrix. With `mlx_rounding`, w = scale·q + bias is rounded as MLX does it
// (in the scales' dtype: bf16/f16 after each operation), so the result equals mx.dequantize bit for bit.
void dequantize_affine_row(const WeightMatrix& w, std::int64_t r, float* out, bool mlx_rounding = false);

// Quantizes rows × cols float values (cols divisible by group_size ∈ {32, 64, 128}) to `bits`
// (2, 3, 4, 5, 6 or 8). Codes are the packed rows; scales/biases are written in `aux_type`.
struct AffineQuantized {
  std::vector<std::uint8_t> codes;   // rows × weight_row_bytes
  std::vector<std::uint8_t> scales;  // rows × groups × sizeof(aux)
  std::vector<std::uint8_t> biases;
};
AffineQuantized quantize_affine(const float* w, std::int64_t rows, std::int64_t cols, int bits, std::int64_t group_size,
                                WeightType aux_type);

}  // namespace glmq
