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

  std::size_t row_bytes() const { return weight_row_bytes(type, static_cast<std::size_t>(cols)); }
  const std::uint8_t* row(std::int64_t r) const { return data + static_cast<std::size_t>(r) * row_bytes(); }
  std::size_t bytes() const { return static_cast<std::size_t>(rows) * row_bytes(); }
  // Rows [first, first + count) as a matrix of their own (e.g. one head's slice of kv_b_proj).
  WeightMatrix row_range(std::int64_t first, std::int64_t count) const { return {type, count, cols, row(first)}; }
  bool empty() const { return data == nullptr; }
};

}  // namespace glmq
