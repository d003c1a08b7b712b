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
  // GGML blocks (shared/docs/quant_gguf.md §4): self-contained blocks of `weight_block_size` elements,
  // scales inside; a row is cols / block_size consecutive blocks.
  Q8_0,
  Q4_0,
  Q5_0,
  Q5_1,
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
  IQ4_NL,
  IQ4_XS,
  IQ2_XXS,
  IQ2_S,
  IQ3_S,
};

std::string_view weight_type_name(WeightType type);
std::optional<WeightType> weight_type_from_name(std::string_view name);

bool is_affine(WeightType type);
int affine_bits(WeightType type);  // 0 for non-affine types
std::optional<WeightType> affine_type_for_bits(int bits);
bool is_float_type(WeightType type);  // F32 / F16 / BF16
bool is_ggml_block(WeightType type);  // Q8_0 … IQ3_S
// Elements per block (1 for float and affine types) and bytes per block.
std::int64_t weight_block_size(WeightType type);
std::size_t weight_block_bytes(WeightType type);
// Storage bits per weight, scales included for GGML blocks (F32 32, Q4_K 4.5, IQ2_S 2.5625).
double weight_bits_per_weight(WeightType type);

// Bytes occupied by `n` consecutive elements of a row (for affine types: the packed codes only; for GGML
// blocks `n` is a multiple of the block size).
std::size_t weight_row_bytes(WeightType type, std::size_t n);

}  // namespace glmq
