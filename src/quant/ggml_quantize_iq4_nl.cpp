// IQ4_NL and IQ4_XS quantization as llama-quantize runs them (quantize_row_iq4_nl_impl with ntry = 7; IQ4_NL:
// super-block = block = 32, IQ4_XS: super-block 256 of 8 blocks of 32; quant_gguf.md §5.4): nearest non-linear
// level per value, 15 trial scales per block by weighted least squares, and for IQ4_XS the 8 block scales as signed
// 6-bit integers under one fp16 super-scale.
#include <cmath>
#include <cstring>

#include "quant/ggml_iq_tables.h"
#include "quant/ggml_quant_math.h"
#include "quant/ggml_quantizers.h"

namespace glmq::ggml {

namespace {

constexpr int kTries = 7;  // llama-quantize's ntry (the _ref functions' −1 is not what it runs)

// Index of the table value nearest to x (binary search; an exact tie picks the upper value, as ggml does).
int best_index_int8(const std::int8_t* val, float x) {
  constexpr int n = 16;
  if (x <= static_cast<float>(val[0])) return 0;
  if (x >= static_cast<float>(val[n - 1])) return n - 1;
  int ml = 0, mu = n - 1;
  while (mu - ml > 1) {
    const int mav = (ml + mu) / 2;
    if (x < static_cast<float>(val[mav])) mu = mav;
    else ml = mav;
  }
  return x - static_cast<float>(val[mu - 1]) < static_cast<float>(val[mu]) - x ? mu - 1 : mu;
}

// σ² = 2·mean(x²) over the super-block, the term the importance weights are scaled by.
float twice_mean_square(const float* x, int n) {
  float sigma2 = 0;
  for (int j = 0; j < n; ++j) sigma2 += x[j] * x[j];
  sigma2 *= 2.f / static_cast<float>(n);
  return sigma2;
}

// The scale of one block of 32 (0 for an all-zero block): weights qw·sqrt(σ² + x²) with an imatrix, x² without.
float fit_block_scale(const float* x, const float* qw, float sigma2) {
  const std::int8_t* values = kValuesIq4nl;
  float weight[32];
  for (int j = 0; j < 32; ++j) weight[j] = qw ? qw[j] * std::sqrt(sigma2 + x[j] * x[j]) : x[j] * x[j];
  float amax = 0, max = 0;
  for (int j = 0; j < 32; ++j) {
    const float ax = std::fabs(x[j]);
    if (ax > amax) {
      amax = ax;
      max = x[j];
    }
  }
  if (amax < kGroupMaxEps) return 0.0f;
  auto fit = [&](float id, float& sumqx, float& sumq2) {
    sumqx = sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
      const float q = static_cast<float>(values[best_index_int8(values, id * x[j])]);
      sumqx += weight[j] * q * x[j];
      sumq2 += weight[j] * q * q;
    }
  };
  float sumqx, sumq2;
  fit(1 / (-max / static_cast<float>(values[0])), sumqx, sumq2);
  float d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
  float best = d * sumqx;
  for (int itry = -kTries; itry <= kTries; ++itry) {
    fit(static_cast<float>(itry + values[0]) / max, sumqx, sumq2);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

// Nibbles: element j of a 32-block in the low nibble of byte j, element 16 + j in its high nibble.
void pack_nibbles(const std::uint8_t* L, std::uint8_t* q) {
  for (int j = 0; j < 16; ++j) q[j] = static_cast<std::uint8_t>(L[j] | (L[16 + j] << 4));
}

}  // namespace

void quantize_iq4_nl_block(const float* x, std::uint8_t* b, const float* qw) {
  const float d = fit_block_scale(x, qw, twice_mean_square(x, 32));
  store_f16(b, d);
  // Final levels from the unrounded float scale (not the stored fp16 one), as ggml does.
  const float id = d != 0.0f ? 1 / d : 0.0f;
  std::uint8_t L[32];
  for (int j = 0; j < 32; ++j) L[j] = static_cast<std::uint8_t>(best_index_int8(kValuesIq4nl, id * x[j]));
  pack_nibbles(L, b + 2);
}

void quantize_iq4_xs_block(const float* x, std::uint8_t* b, const float* qw) {
  const float sigma2 = twice_mean_square(x, 256);
  float scales[8];
  float max_scale = 0, amax_scale = 0;
  for (int ib = 0; ib < 8; ++ib) {
    scales[ib] = fit_block_scale(x + 32 * ib, qw ? qw + 32 * ib : nullptr, sigma2);
    const float abs_d = std::fabs(scales[ib]);
    if (abs_d > amax_scale) {
      amax_scale = abs_d;
      max_scale = scales[ib];
    }
  }
  // Block scales are l·D with l ∈ [−32, 31]; D = −max_scale/32 (so an all-zero super-block stores −0.0, as ggml).
  const float d = -max_scale / 32;
  store_f16(b, d);
  const float id = d != 0.0f ? 1 / d : 0.f;
  std::uint16_t scales_h = 0;
  std::uint8_t* scales_l = b + 4;
  std::memset(scales_l, 0, 4);
  for (int ib = 0; ib < 8; ++ib) {
    int l = nearest_int(id * scales[ib]);
    l = l < -32 ? -32 : (l > 31 ? 31 : l);
    const float dl = d * static_cast<float>(l);
    const float idl = dl != 0.0f ? 1 / dl : 0.f;
    std::uint8_t L[32];
    for (int j = 0; j < 32; ++j) L[j] = static_cast<std::uint8_t>(best_index_int8(kValuesIq4nl, idl * x[32 * ib + j]));
    pack_nibbles(L, b + 8 + 16 * ib);
    l += 32;
    scales_l[ib / 2] = static_cast<std::uint8_t>(scales_l[ib / 2] | ((l & 0xF) << (4 * (ib % 2))));
    scales_h = static_cast<std::uint16_t>(scales_h | ((l >> 4) << (2 * ib)));
  }
  b[2] = static_cast<std::uint8_t>(scales_h & 0xFF);
  b[3] = static_cast<std::uint8_t>(scales_h >> 8);
}

}  // namespace glmq::ggml
