// IQ2_XXS quantization (quantize_row_iq2_xxs_impl; quant_gguf.md §5.7): 8 sub-blocks of 32 = four groups of 8, each
// group one point of the 256-point grid (magnitudes {1,3,5}·scale) plus 7 sign bits whose parity bit is implied
// (an even number of negatives); per sub-block a 4-bit scale under one fp16 super-scale. Layout: d f16 @0, then per
// sub-block two little-endian u32: the 4 grid indices (one byte each), and the 4 × 7 sign bits with the scale in
// bits 28..31. ggml has no unweighted form: importance weights are required.
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "quant/ggml_iq_grid_map.h"
#include "quant/ggml_quant_fits.h"
#include "quant/ggml_quant_math.h"
#include "quant/ggml_quantizers.h"

namespace glmq::ggml {

namespace {

constexpr int kMaxQ = 3;  // levels 0..2

void store_u32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

}  // namespace

void quantize_iq2_xxs_block(const float* x, std::uint8_t* b, const float* qw) {
  if (!qw) fail(ErrorKind::InvalidArgument, "IQ2_XXS needs importance weights (an imatrix); ggml's quantizer has no unweighted form");
  const IqGridMap& g = iq2_xxs_grid_map();
  std::memset(b, 0, 66);
  std::uint32_t q2[16] = {};

  float sumx2 = 0;
  for (int i = 0; i < 256; ++i) sumx2 += x[i] * x[i];
  const float sigma2 = sumx2 / 256;

  float scales[8];
  float max_scale = 0;
  for (int ib = 0; ib < 8; ++ib) {
    const float* xb = x + 32 * ib;
    float weight[32], waux[32], xval[32];
    for (int i = 0; i < 32; ++i) weight[i] = qw[32 * ib + i] * std::sqrt(sigma2 + xb[i] * xb[i]);
    for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
    std::uint8_t block_signs[4];
    for (int k = 0; k < 4; ++k) {
      int negatives = 0;
      std::uint8_t s = 0;
      for (int i = 0; i < 8; ++i) {
        if (xb[8 * k + i] >= 0) {
          xval[8 * k + i] = xb[8 * k + i];
        } else {
          xval[8 * k + i] = -xb[8 * k + i];
          ++negatives;
          s = static_cast<std::uint8_t>(s | (1 << i));
        }
      }
      // Only 7 sign bits are stored and the 8th makes the count of negatives even: with an odd count, the element
      // costing least to get wrong (smallest w·x²) takes the other sign, its magnitude negated to stay exact.
      if (negatives % 2) {
        int imin = 0;
        float min = weight[8 * k] * xb[8 * k] * xb[8 * k];
        for (int i = 1; i < 8; ++i) {
          const float ax = weight[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
          if (ax < min) {
            min = ax;
            imin = i;
          }
        }
        xval[8 * k + imin] = -xval[8 * k + imin];
        s = static_cast<std::uint8_t>(s ^ (1 << imin));
      }
      block_signs[k] = static_cast<std::uint8_t>(s & 127);
    }
    float max = xval[0];
    for (int i = 1; i < 32; ++i) max = max > xval[i] ? max : xval[i];
    if (max < kGroupMaxEps) {
      scales[ib] = 0;
      continue;
    }
    // The search is centred on a positive-only least-squares fit of the magnitudes, not on the largest one.
    std::uint8_t Lfit[32];
    float scale = make_qp_quants(32, kMaxQ + 1, xval, Lfit, weight);
    const float eff_max = scale * kMaxQ;
    if (eff_max <= 0) {
      scales[ib] = 0;
      continue;
    }
    // 13 trial inverse scales around 5/eff_max; each group's levels snapped to the grid, scored by weighted LSQ.
    // L keeps the best candidate's levels (the fit's, if none scores): they are written as they are only when the
    // scale came out negative, as ggml does.
    std::int8_t L[32];
    for (int i = 0; i < 32; ++i) L[i] = static_cast<std::int8_t>(Lfit[i]);
    float best = 0;
    for (int is = -6; is <= 6; ++is) {
      const float id = (static_cast<float>(2 * kMaxQ - 1) + static_cast<float>(is) * 0.1f) / eff_max;
      const float this_scale = 1 / id;
      std::int8_t Laux[32];
      for (int k = 0; k < 4; ++k) {
        g.place(id, this_scale, xval + 8 * k, waux + 8 * k, Laux + 8 * k);
      }
      float sumqx, sumq2;
      odd_level_sums(weight, xval, Laux, 32, sumqx, sumq2);
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        scale = sumqx / sumq2;
        best = scale * sumqx;
        std::memcpy(L, Laux, 32);
      }
    }
    // Unlike IQ2_S, every group is requantized at a positive chosen scale, then the scale refitted once.
    if (scale > 0) {
      const float id = 1 / scale;
      for (int k = 0; k < 4; ++k) {
        g.place(id, scale, xval + 8 * k, waux + 8 * k, L + 8 * k);
      }
      float sumqx, sumq2;
      odd_level_sums(weight, xval, L, 32, sumqx, sumq2);
      if (sumq2 > 0) scale = sumqx / sumq2;
    }
    if (scale < 0) {
      scale = -scale;
      for (auto& s : block_signs) s = static_cast<std::uint8_t>(~s & 127);
    }
    for (int k = 0; k < 4; ++k) {
      const std::int32_t grid_index = g.map[g.code_of(L + 8 * k)];
      if (grid_index < 0) fail(ErrorKind::InvalidArgument, "IQ2_XXS quantizer: a group ended off the grid (NaN input?)");
      q2[2 * ib] |= static_cast<std::uint32_t>(grid_index) << (8 * k);
      q2[2 * ib + 1] |= static_cast<std::uint32_t>(block_signs[k]) << (7 * k);
    }
    scales[ib] = scale;
    max_scale = max_scale > scale ? max_scale : scale;
  }
  if (max_scale == 0.0f) return;  // d and all codes stay +0 from the memset, as ggml writes them
  const float d = max_scale / 31;
  store_f16(b, d);
  const float id = 1 / d;
  for (int ib = 0; ib < 8; ++ib) {
    int l = nearest_int(0.5f * (id * scales[ib] - 1));
    l = l < 0 ? 0 : (l > 15 ? 15 : l);
    q2[2 * ib + 1] |= static_cast<std::uint32_t>(l) << 28;
  }
  for (int i = 0; i < 16; ++i) store_u32(b + 2 + 4 * i, q2[i]);
}

}  // namespace glmq::ggml
