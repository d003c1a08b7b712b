#pragma once
// The types a weight can be stored in. Kernels are chosen by this type, never by file format.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace glmq {

enum class WeightType : std::uint8_t {
  F32,
  F16,
  BF16,
  // MLX affine: b-bit codes packed LSB-first as one bit stream per row; per group of `group_size` inputs a
  // scale and a bias (separate tensors, F32/F16/BF16): w = scale·q + bias.
  Affine2,
  Affine3,
  Affine4,
  Affine5,
  Affine6,
  Affine8,
};

std::string_view weight_type_name(WeightType type);
std::optional<WeightType> weight_type_from_name(std::string_view name);

bool is_affine(WeightType type);
int affine_bits(WeightType type);  // 0 for non-affine types
std::optional<WeightType> affine_type_for_bits(int bits);
bool is_float_type(WeightType type);  // F32 / F16 / BF16

// Bytes occupied by `n` consecutive elements of a row (for affine types: the packed codes only).
std::size_t weight_row_bytes(WeightType type, std::size_t n);

}  // namespace glmq
