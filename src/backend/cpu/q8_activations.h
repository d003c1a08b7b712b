#pragma once
// Activations rounded to int8 once per matrix product, so the weight kernels can use integer dot products
// (shared/docs/quant_gguf.md §4.5: llama.cpp's Q8_0 / Q8_K). Each weight type reads them in the byte order its
// packed codes come in, so the kernels need no shuffles in their inner loops.
#include <cstdint>
#include <vector>

namespace glmq::cpu {

// The byte order inside each 128 elements (cols is a multiple of 32; a tail shorter than 128 stays natural).
enum class Q8Order : std::uint8_t {
  Natural,
  // Four 32-element blocks stored as [elements 0..15 of each of the 4 | elements 16..31 of each]: the order of the
  // low, then high nibbles of four consecutive 16-byte IQ4 code arrays loaded as one 64-byte vector.
  NibbleGroups,
  // [0..31, 64..95, 32..63, 96..127]: Q4_K's low nibbles of 64 code bytes, then their high nibbles.
  Q4K,
};

struct Q8Format {
  int block = 32;  // elements per activation scale: 32 (like Q8_0) or 256 (like Q8_K)
  Q8Order order = Q8Order::Natural;
  bool operator==(const Q8Format&) const = default;
};

// `rows` activation rows of `cols` values (cols a multiple of `format.block`): x ≈ d[block] · q.
struct Q8Rows {
  Q8Format format;
  std::int64_t rows = 0, cols = 0;
  std::vector<std::int8_t> q;       // rows × cols, ordered per `format.order`
  std::vector<float> d;             // rows × cols/block
  std::vector<std::int16_t> sum16;  // rows × cols/16: Σ q over each 16 consecutive elements in natural order
  std::vector<std::int32_t> sum32;  // rows × cols/32: Σ q over each 32 consecutive elements in natural order
  std::vector<float> dsum32;        // rows × cols/32: the same sums times their scale, ≈ Σ x over the 32 elements

  const std::int8_t* row_q(std::int64_t t) const { return q.data() + t * cols; }
  const float* row_d(std::int64_t t) const { return d.data() + t * (cols / format.block); }
  const std::int16_t* row_sum16(std::int64_t t) const { return sum16.data() + t * (cols / 16); }
  const std::int32_t* row_sum32(std::int64_t t) const { return sum32.data() + t * (cols / 32); }
  const float* row_dsum32(std::int64_t t) const { return dsum32.data() + t * (cols / 32); }
};

// Sizes `out` for n rows of `cols` (growing its buffers only when needed, so a reused Q8Rows stops allocating).
void prepare_q8(std::int64_t n, std::int64_t cols, Q8Format format, Q8Rows& out);
// Rounds rows [t0, t1) of x (rows `stride` floats apart) into `out`, which prepare_q8 sized. Per block:
// d = max|x| / 127 and q = x·(127 / max|x|) rounded to nearest (ties to even), so |x − d·q| ≤ d/2 up to float rounding.
void quantize_q8_rows(const float* x, std::int64_t stride, std::int64_t t0, std::int64_t t1, Q8Rows& out);

}  // namespace glmq::cpu
