#pragma once
// Scalar helpers whose exact rounding the GGML quantizers depend on (quant_gguf.md §5.1).
#include <bit>
#include <cstdint>
#include <cstring>

#include "core/float_convert.h"

namespace glmq::ggml {

// Round half to even via the 1.5·2^23 trick ggml uses (valid for |f| ≤ 4194303); not lround/roundf.
inline int nearest_int(float f) {
  const float v = f + 12582912.f;
  return static_cast<int>(std::bit_cast<std::uint32_t>(v) & 0x007fffff) - 0x00400000;
}

inline void store_f16(std::uint8_t* p, float v) {
  const std::uint16_t h = f32_to_f16(v);
  std::memcpy(p, &h, 2);
}

inline float f16_round(float v) { return f16_to_f32(f32_to_f16(v)); }

inline constexpr float kGroupMaxEps = 1e-15f;

}  // namespace glmq::ggml

namespace glmq::ggml {

inline float read_f16_bits(const std::uint8_t* p) {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// Σ w·x·q and Σ w·q² over n values of odd magnitudes q = 2L + 1 (the grid i-quants' sub-block scale fit).
inline void odd_level_sums(const float* weight, const float* xval, const std::int8_t* L, int n, float& sumqx, float& sumq2) {
  sumqx = 0;
  sumq2 = 0;
  for (int i = 0; i < n; ++i) {
    const float w = weight[i];
    const float q = static_cast<float>(2 * L[i] + 1);
    sumqx += w * xval[i] * q;
    sumq2 += w * q * q;
  }
}

}  // namespace glmq::ggml
