// Q2_K quantization (quantize_row_q2_K_ref / _impl; quant_gguf.md §5.3): 16 sub-blocks of 16 with 2-bit levels
// fitted asymmetrically (x ≈ d·sc·L − dmin·m), sub-block scales and mins as 4-bit integers under two fp16
// super-scales. Layout: scales u8[16] @0 (scale low nibble, min high nibble), qs u8[64] @16, d f16 @80, dmin @82.
#include <cmath>
#include <cstring>

#include "quant/ggml_quant_fits.h"
#include "quant/ggml_quant_math.h"
#include "quant/ggml_quantizers.h"

namespace glmq::ggml {

namespace {

constexpr float kQ4Scale = 15.f;  // the 4-bit range of the sub-block scales and mins

// No imatrix: weights |x|, absolute-error fits, scales and mins quantized linearly against their maxima.
void fit_without_importance(const float* x, std::uint8_t* L, std::uint8_t* b) {
  float scales[16], mins[16], weights[16];
  std::uint8_t Laux[16];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 16; ++j) {
    for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
    scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  // ggml assigns the int levels to uint8_t fields; the casts keep its wrap-around for out-of-range values.
  if (max_scale > 0) {
    const float iscale = kQ4Scale / max_scale;
    for (int j = 0; j < 16; ++j) b[j] = static_cast<std::uint8_t>(nearest_int(iscale * scales[j]));
    store_f16(b + 80, max_scale / kQ4Scale);
  } else {
    std::memset(b, 0, 16);
    store_f16(b + 80, 0.f);
  }
  if (max_min > 0) {
    const float iscale = kQ4Scale / max_min;
    for (int j = 0; j < 16; ++j) b[j] = static_cast<std::uint8_t>(b[j] | (nearest_int(iscale * mins[j]) << 4));
    store_f16(b + 82, max_min / kQ4Scale);
  } else {
    store_f16(b + 82, 0.f);
  }
}

// With an imatrix: weights qw·sqrt(σ² + x²) with σ² = mean(x²) over the super-block (no factor 2 here, unlike
// Q3_K…Q5_K), scales and mins quantized by make_qp_quants weighted by each sub-block's total weight.
void fit_with_importance(const float* x, const float* qw, std::uint8_t* L, std::uint8_t* b) {
  float scales[16], mins[16], sw[16], weight[16];
  std::uint8_t Laux[16], Ls[16], Lm[16];
  float sumx2 = 0;
  for (int j = 0; j < 256; ++j) sumx2 += x[j] * x[j];
  const float sigma2 = sumx2 / 256;
  for (int j = 0; j < 16; ++j) {
    for (int l = 0; l < 16; ++l) weight[l] = qw[16 * j + l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
    float sumw = 0;
    for (int l = 0; l < 16; ++l) sumw += weight[l];
    sw[j] = sumw;
    scales[j] = make_qkx3_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
  }
  const float dm = make_qp_quants(16, 15, scales, Ls, sw);
  const float mm = make_qp_quants(16, 15, mins, Lm, sw);
  store_f16(b + 80, dm);
  store_f16(b + 82, mm);
  for (int j = 0; j < 16; ++j) b[j] = static_cast<std::uint8_t>(Ls[j] | (Lm[j] << 4));
}

}  // namespace

void quantize_q2_k_block(const float* x, std::uint8_t* b, const float* qw) {
  std::uint8_t L[256];
  if (qw) fit_with_importance(x, qw, L, b);
  else fit_without_importance(x, L, b);
  // Final levels from the stored fp16 super-scales and 4-bit sub-scales.
  const float d_stored = read_f16_bits(b + 80), dmin_stored = read_f16_bits(b + 82);
  for (int j = 0; j < 16; ++j) {
    const float d = d_stored * static_cast<float>(b[j] & 0xF);
    if (d == 0.0f) continue;
    const float dm = dmin_stored * static_cast<float>(b[j] >> 4);
    for (int ii = 0; ii < 16; ++ii) {
      const int l = nearest_int((x[16 * j + ii] + dm) / d);
      L[16 * j + ii] = static_cast<std::uint8_t>(l < 0 ? 0 : (l > 3 ? 3 : l));
    }
  }
  std::uint8_t* qs = b + 16;
  for (int j = 0; j < 256; j += 128) {
    for (int l = 0; l < 32; ++l)
      qs[j / 4 + l] =
          static_cast<std::uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
  }
}

}  // namespace glmq::ggml
