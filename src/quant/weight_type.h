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
};

std::string_view weight_type_name(WeightType type);
std::optional<WeightType> weight_type_from_name(std::string_view name);

// Bytes occupied by `n` consecutive elements of a row (n must be a whole number of blocks for block types).
std::size_t weight_row_bytes(WeightType type, std::size_t n);

}  // namespace glmq
