#pragma once
// KvRows: a view onto one cached tensor (the MLA latent, the rope key part or the indexer keys) of one layer:
// `capacity` rows of `width` values stored as float32, float16, or 8/4-bit affine codes with a float16 scale
// and bias per group of `group_size` values (w = scale·q + bias, as MLX's quantized KV cache).
#include <cstddef>
#include <cstdint>
#include <string>

namespace glmq {

enum class KvFormat : std::uint8_t { F32, F16, Q8, Q4 };

std::string kv_format_name(KvFormat format);
int kv_format_bits(KvFormat format);
// 32 → F32, 16 → F16, 8 → Q8, 4 → Q4; anything else is an InvalidArgument error naming `what`.
KvFormat kv_format_for_bits(int bits, const std::string& what);

struct KvRows {
  KvFormat format = KvFormat::F32;
  std::int64_t width = 0;
  std::int64_t group_size = 0;         // quantized formats only
  std::uint8_t* data = nullptr;         // rows × row_bytes()
  std::uint16_t* scales = nullptr;      // quantized: rows × groups, float16
  std::uint16_t* biases = nullptr;

  std::int64_t groups() const { return group_size ? width / group_size : 0; }
  std::size_t row_bytes() const { return static_cast<std::size_t>(width * kv_format_bits(format) / 8); }
  // Bytes one row occupies, scales and biases included.
  std::size_t bytes_per_row() const { return row_bytes() + (group_size ? static_cast<std::size_t>(4 * groups()) : 0); }
  std::uint8_t* row(std::int64_t r) const { return data + static_cast<std::size_t>(r) * row_bytes(); }
  bool empty() const { return data == nullptr; }
};

}  // namespace glmq
