// Q3_K quantization (quantize_row_q3_K_ref / _impl; quant_gguf.md §5.3): 16 sub-blocks of 16 with signed 3-bit
// levels (x ≈ d·sc·(L − 4)) and signed 6-bit sub-block scales under one fp16 super-scale. Layout: hmask u8[32] @0
// (third bit), qs u8[64] @32 (low 2 bits), scales u8[12] @96 (16 × 6 bits, offset 32), d f16 @108.
#include <cmath>
#include <cstring>

#include "quant/ggml_quant_fits.h"
#include "quant/ggml_quant_math.h"
#include "quant/ggml_quantizers.h"

namespace glmq::ggml {

namespace {

// Sub-block j's 6-bit scale (0..63, i.e. scale + 32) into the 12 packed bytes: low nibbles in bytes 0..7 (sub-blocks
// 0..7 low, 8..15 high nibble), the top 2 bits in bytes 8..11.
void pack_scale(int j, int l, std::uint8_t* s) {
  if (j < 8) s[j] = static_cast<std::uint8_t>(l & 0xF);
  else s[j - 8] = static_cast<std::uint8_t>(s[j - 8] | ((l & 0xF) << 4));
  l >>= 4;
  s[j % 4 + 8] = static_cast<std::uint8_t>(s[j % 4 + 8] | (l << (2 * (j / 4))));
}

int unpack_scale(int j, const std::uint8_t* s) {
  // ggml computes this in int8_t; the value is 0..63 before subtracting 32, so int gives the same result.
  const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
  return (lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

// No imatrix: make_q3_quants per sub-block, scales quantized linearly against the one with the largest magnitude.
void fit_without_importance(const float* x, std::int8_t* L, std::uint8_t* b) {
  float scales[16];
  float max_scale = 0, amax = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
    const float scale = std::fabs(scales[j]);
    if (scale > amax) {
      amax = scale;
      max_scale = scales[j];
    }
  }
  std::uint8_t* s = b + 96;
  std::memset(s, 0, 12);
  if (max_scale != 0.0f) {
    const float iscale = -32.f / max_scale;
    for (int j = 0; j < 16; ++j) {
      // ggml holds the level in an int8_t before clamping.
      const int l = static_cast<std::int8_t>(nearest_int(iscale * scales[j]));
      pack_scale(j, (l < -32 ? -32 : (l > 31 ? 31 : l)) + 32, s);
    }
    store_f16(b + 108, 1 / iscale);
  } else {
    store_f16(b + 108, 0.f);
  }
}

// With an imatrix: make_qx_quants weighted by qw·sqrt(σ² + x²) (σ² = 2·mean(x²)), and the 16 scales fitted by
// make_qx_quants again, weighted by each sub-block's total weight.
void fit_with_importance(const float* x, const float* qw, std::int8_t* L, std::uint8_t* b) {
  float scales[16], weight[16], sw[16];
  std::int8_t Ls[16];
  float sumx2 = 0;
  for (int j = 0; j < 256; ++j) sumx2 += x[j] * x[j];
  const float sigma2 = 2 * sumx2 / 256;
  for (int j = 0; j < 16; ++j) {
    for (int l = 0; l < 16; ++l) weight[l] = qw[16 * j + l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
    float sumw = 0;
    for (int l = 0; l < 16; ++l) sumw += weight[l];
    sw[j] = sumw;
    scales[j] = make_qx_quants(16, 4, x + 16 * j, L + 16 * j, weight);
  }
  std::uint8_t* s = b + 96;
  std::memset(s, 0, 12);
  const float d_block = make_qx_quants(16, 32, scales, Ls, sw);
  for (int j = 0; j < 16; ++j) pack_scale(j, Ls[j], s);
  store_f16(b + 108, d_block);
}

}  // namespace

void quantize_q3_k_block(const float* x, std::uint8_t* b, const float* qw) {
  std::int8_t L[256];
  if (qw) fit_with_importance(x, qw, L, b);
  else fit_without_importance(x, L, b);
  // Final levels from the stored fp16 super-scale and the 6-bit sub-scales.
  const float d_stored = read_f16_bits(b + 108);
  for (int j = 0; j < 16; ++j) {
    const float d = d_stored * static_cast<float>(unpack_scale(j, b + 96));
    if (d == 0.0f) continue;
    for (int ii = 0; ii < 16; ++ii) {
      const int l = nearest_int(x[16 * j + ii] / d);
      L[16 * j + ii] = static_cast<std::int8_t>((l < -4 ? -4 : (l > 3 ? 3 : l)) + 4);
    }
  }
  // The third bit of element j goes to hmask[j % 32], bit j / 32.
  std::uint8_t* hmask = b;
  std::memset(hmask, 0, 32);
  int m = 0;
  std::uint8_t hm = 1;
  for (int j = 0; j < 256; ++j) {
    if (L[j] > 3) {
      hmask[m] |= hm;
      L[j] = static_cast<std::int8_t>(L[j] - 4);
    }
    if (++m == 32) {
      m = 0;
      hm = static_cast<std::uint8_t>(hm << 1);
    }
  }
  std::uint8_t* qs = b + 32;
  for (int j = 0; j < 256; j += 128) {
    for (int l = 0; l < 32; ++l)
      qs[j / 4 + l] =
          static_cast<std::uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
  }
}

}  // namespace glmq::ggml
