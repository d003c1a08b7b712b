// IQ3_S quantization (quantize_row_iq3_s_impl with block size 32, as quantize_iq3_s calls it; quant_gguf.md §5.7):
// 8 sub-blocks of 32 = eight groups of 4, each group one point of the 512-point grid (magnitudes {1,3,…,15}·scale)
// plus full sign bytes; per sub-block a 4-bit scale under one fp16 super-scale. Layout: d f16 @0, qs u8[64] @2 (low
// 8 bits of the grid indices), qh u8[8] @66 (index bit 8: bit k of byte ib for group k of sub-block ib),
// signs u8[32] @74 (one byte per 8 values), scales u8[4] @106 (two 4-bit scales per byte).
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "quant/ggml_iq_grid_map.h"
#include "quant/ggml_quant_math.h"
#include "quant/ggml_quantizers.h"

namespace glmq::ggml {

namespace {

constexpr int kMaxQ = 8;  // levels 0..7

}  // namespace

void quantize_iq3_s_block(const float* x, std::uint8_t* b, const float* qw) {
  const IqGridMap& g = iq3_s_grid_map();
  std::memset(b, 0, 110);
  std::uint8_t* qs = b + 2;
  std::uint8_t* qh = b + 66;
  std::uint8_t* signs = b + 74;
  std::uint8_t* block_scales = b + 106;

  float sumx2 = 0;
  for (int i = 0; i < 256; ++i) sumx2 += x[i] * x[i];
  const float sigma2 = 2 * sumx2 / 256;

  float scales[8];
  float max_scale = 0;
  for (int ib = 0; ib < 8; ++ib) {
    const float* xb = x + 32 * ib;
    float weight[32], waux[32], xval[32];
    for (int i = 0; i < 32; ++i) weight[i] = qw ? qw[32 * ib + i] * std::sqrt(sigma2 + xb[i] * xb[i]) : xb[i] * xb[i];
    for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
    std::uint8_t block_signs[4];
    for (int k = 0; k < 4; ++k) {
      std::uint8_t s = 0;
      for (int i = 0; i < 8; ++i) {
        if (xb[8 * k + i] >= 0) {
          xval[8 * k + i] = xb[8 * k + i];
        } else {
          xval[8 * k + i] = -xb[8 * k + i];
          s = static_cast<std::uint8_t>(s | (1 << i));
        }
      }
      block_signs[k] = s;
    }
    float max = xval[0];
    for (int i = 1; i < 32; ++i) max = max > xval[i] ? max : xval[i];
    // ggml advances its qs/signs write positions only past sub-blocks it stores, so an all-zero sub-block shifts
    // the later sub-blocks' indices and signs one slot down (qh and the scales stay per sub-block). The bytes
    // llama-quantize writes, and hence these, keep that layout.
    if (max == 0.0f) {
      scales[ib] = 0;
      continue;
    }
    // 19 trial inverse scales around 15/max; each group's levels snapped to the grid, scored by weighted LSQ.
    float best = 0;
    float scale = max / (2 * kMaxQ - 1);
    std::int8_t L[32] = {};
    bool is_on_grid[8] = {};
    for (int is = -9; is <= 9; ++is) {
      const float id = (static_cast<float>(2 * kMaxQ - 1) + static_cast<float>(is) * 0.2f) / max;
      const float this_scale = 1 / id;
      std::int8_t Laux[32];
      bool is_on_grid_aux[8];
      for (int k = 0; k < 8; ++k) {
        is_on_grid_aux[k] = g.place(id, this_scale, xval + 4 * k, waux + 4 * k, Laux + 4 * k);
      }
      float sumqx, sumq2;
      odd_level_sums(weight, xval, Laux, 32, sumqx, sumq2);
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        scale = sumqx / sumq2;
        best = scale * sumqx;
        std::memcpy(L, Laux, 32);
        std::memcpy(is_on_grid, is_on_grid_aux, sizeof is_on_grid);
      }
    }
    // If any group had to be snapped (or no trial scored), all groups are requantized at the chosen scale and the
    // scale refitted once.
    bool any_off_grid = false;
    for (bool on : is_on_grid) any_off_grid = any_off_grid || !on;
    if (any_off_grid && scale > 0) {
      const float id = 1 / scale;
      for (int k = 0; k < 8; ++k) {
        g.place(id, scale, xval + 4 * k, waux + 4 * k, L + 4 * k);
      }
      float sumqx, sumq2;
      odd_level_sums(weight, xval, L, 32, sumqx, sumq2);
      if (sumq2 > 0) scale = sumqx / sumq2;
    }
    if (scale < 0) {
      scale = -scale;
      for (auto& s : block_signs) s = static_cast<std::uint8_t>(~s);
    }
    for (int k = 0; k < 8; ++k) {
      const std::int32_t grid_index = g.map[g.code_of(L + 4 * k)];
      if (grid_index < 0) fail(ErrorKind::InvalidArgument, "IQ3_S quantizer: a group ended off the grid (NaN input?)");
      qs[k] = static_cast<std::uint8_t>(grid_index & 255);
      qh[ib] = static_cast<std::uint8_t>(qh[ib] | ((grid_index >> 8) << k));
    }
    qs += 8;
    std::memcpy(signs, block_signs, 4);
    signs += 4;
    scales[ib] = scale;
    max_scale = max_scale > scale ? max_scale : scale;
  }
  if (max_scale == 0.0f) return;  // d stays +0 from the memset, as ggml's store of 0.f
  const float d = max_scale / 31;
  store_f16(b, d * 1.033f);
  const float id = 1 / d;
  for (int ib = 0; ib < 8; ib += 2) {
    int l1 = nearest_int(0.5f * (id * scales[ib] - 1));
    l1 = l1 < 0 ? 0 : (l1 > 15 ? 15 : l1);
    int l2 = nearest_int(0.5f * (id * scales[ib + 1] - 1));
    l2 = l2 < 0 ? 0 : (l2 > 15 ? 15 : l2);
    block_scales[ib / 2] = static_cast<std::uint8_t>(l1 | (l2 << 4));
  }
}

}  // namespace glmq::ggml
