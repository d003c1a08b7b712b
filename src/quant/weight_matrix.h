#pragma once
// A 2-D weight in its stored type: `rows` output features × `cols` input features (HF [out, in] order).
// The bytes usually live in a memory-mapped file; kernels dispatch on `type`.
#include <cstddef>
#include <cstdint>

#include "quant/weight_type.h"

namespace glmq {

struct WeightMatrix {
  WeightType type = WeightType::F32;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  const std::uint8_t* data = nullptr;
  // Affine types only: [rows × cols/group_size] scales and biases, stored as `aux_type` (F32, F16 or BF16).
  const std::uint8_t* scales = nullptr;
  const std::uint8_t* biases = nullptr;
  WeightType aux_type = WeightType::BF16;
  std::int64_t group_size = 0;

  std::size_t row_bytes() const { return weight_row_bytes(type, static_cast<std::size_t>(cols)); }
  const std::uint8_t* row(std::int64_t r) const { return data + static_cast<std::size_t>(r) * row_bytes(); }
  std::int64_t groups_per_row() const { return group_size ? cols / group_size : 0; }
  std::size_t aux_row_bytes() const { return weight_row_bytes(aux_type, static_cast<std::size_t>(groups_per_row())); }
  // Bytes this matrix occupies, scales and biases included.
  std::size_t bytes() const {
    return static_cast<std::size_t>(rows) * (row_bytes() + (scales ? 2 * aux_row_bytes() : 0));
  }
  // Rows [first, first + count) as a matrix of their own (e.g. one head's slice).
  WeightMatrix row_range(std::int64_t first, std::int64_t count) const {
    WeightMatrix m = *this;
    m.rows = count;
    m.data = row(first);
    if (scales) {
      m.scales = scales + static_cast<std::size_t>(first) * aux_row_bytes();
      m.biases = biases + static_cast<std::size_t>(first) * aux_row_bytes();
    }
    return m;
  }
  bool empty() const { return data == nullptr; }
};

}  // namespace glmq
