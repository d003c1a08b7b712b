// IQ2_S quantization (quantize_row_iq2_s_impl; quant_gguf.md §5.5): 16 sub-blocks of 16 = two groups of 8, each
// group one point of the 1024-point grid (magnitudes {1,3,5}·scale) plus a full sign byte; per sub-block a 4-bit
// scale under one fp16 super-scale. Layout: d f16 @0, qs u8[64] @2 (bytes 0..31 low 8 bits of the grid indices,
// 32..63 sign bytes), qh u8[8] @66 (index bits 8..9), scales u8[8] @74 (two 4-bit scales per byte).
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "quant/ggml_iq_grid_map.h"
#include "quant/ggml_iq_tables.h"
#include "quant/ggml_quant_math.h"
#include "quant/ggml_quantizers.h"

namespace glmq::ggml {

namespace {

constexpr int kMaxQ = 3;                     // levels 0..2
constexpr float kGroupMaxEpsIq2S = 1e-8f;    // ggml's GROUP_MAX_EPS_IQ2_S

}  // namespace

void quantize_iq2_s_block(const float* x, std::uint8_t* b, const float* qw) {
  const IqGridMap& g = iq2_s_grid_map();
  std::memset(b, 0, 82);
  std::uint8_t* qs = b + 2;
  std::uint8_t* qh = b + 66;
  std::uint8_t* block_scales = b + 74;

  float sumx2 = 0;
  for (int i = 0; i < 256; ++i) sumx2 += x[i] * x[i];
  const float sigma2 = 2 * sumx2 / 256;

  float scales[16];
  float max_scale = 0;
  for (int ib = 0; ib < 16; ++ib) {
    const float* xb = x + 16 * ib;
    float weight[16], waux[16], xval[16];
    for (int i = 0; i < 16; ++i)
      weight[i] = qw ? qw[16 * ib + i] * std::sqrt(sigma2 + xb[i] * xb[i]) : 0.25f * sigma2 + xb[i] * xb[i];
    for (int i = 0; i < 16; ++i) waux[i] = std::sqrt(weight[i]);
    std::uint8_t block_signs[2];
    for (int k = 0; k < 2; ++k) {
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
    for (int i = 1; i < 16; ++i) max = max > xval[i] ? max : xval[i];
    std::int8_t L[16] = {};
    if (max < kGroupMaxEpsIq2S) {
      scales[ib] = 0;
      continue;
    }
    // 19 trial inverse scales around 5/max; each group's levels snapped to the grid, scored by weighted LSQ.
    float best = 0;
    float scale = max / (2 * kMaxQ - 1);
    bool is_on_grid[2] = {true, true};
    for (int is = -9; is <= 9; ++is) {
      const float id = (static_cast<float>(2 * kMaxQ - 1) + static_cast<float>(is) * 0.1f) / max;
      const float this_scale = 1 / id;
      std::int8_t Laux[16];
      bool is_on_grid_aux[2];
      for (int k = 0; k < 2; ++k) {
        is_on_grid_aux[k] = g.place(id, this_scale, xval + 8 * k, waux + 8 * k, Laux + 8 * k);
      }
      float sumqx, sumq2;
      odd_level_sums(weight, xval, Laux, 16, sumqx, sumq2);
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        scale = sumqx / sumq2;
        best = scale * sumqx;
        std::memcpy(L, Laux, 16);
        is_on_grid[0] = is_on_grid_aux[0];
        is_on_grid[1] = is_on_grid_aux[1];
      }
    }
    // Groups that had to be snapped are requantized once at the chosen scale, then the scale refitted.
    if ((!is_on_grid[0] || !is_on_grid[1]) && scale > 0) {
      const float id = 1 / scale;
      for (int k = 0; k < 2; ++k) {
        if (is_on_grid[k]) continue;
        g.place(id, scale, xval + 8 * k, waux + 8 * k, L + 8 * k);
      }
      float sumqx, sumq2;
      odd_level_sums(weight, xval, L, 16, sumqx, sumq2);
      if (sumq2 > 0) scale = sumqx / sumq2;
    }
    if (scale < 0) {
      scale = -scale;
      block_signs[0] = static_cast<std::uint8_t>(~block_signs[0]);
      block_signs[1] = static_cast<std::uint8_t>(~block_signs[1]);
    }
    for (int k = 0; k < 2; ++k) {
      const std::int32_t grid_index = g.map[g.code_of(L + 8 * k)];
      if (grid_index < 0) fail(ErrorKind::InvalidArgument, "IQ2_S quantizer: a group ended off the grid (NaN input?)");
      const int i8 = 2 * ib + k;
      qs[i8] = static_cast<std::uint8_t>(grid_index & 255);
      qh[i8 / 4] = static_cast<std::uint8_t>(qh[i8 / 4] | ((grid_index >> 8) << (2 * (i8 % 4))));
      qs[32 + i8] = block_signs[k];
    }
    scales[ib] = scale;
    max_scale = max_scale > scale ? max_scale : scale;
  }
  if (max_scale == 0.0f) return;  // d stays +0 from the memset, as ggml's store of 0.f
  const float d = max_scale / 31;
  store_f16(b, d * 0.9875f);
  const float id = 1 / d;
  for (int ib = 0; ib < 16; ++ib) {
    int l = nearest_int(0.5f * (id * scales[ib] - 1));
    l = l < 0 ? 0 : (l > 15 ? 15 : l);
    block_scales[ib / 2] = static_cast<std::uint8_t>(block_scales[ib / 2] | (l << (4 * (ib % 2))));
  }
}

void requantize_iq2_s_group(std::uint8_t* b, int group, const float* x, const float* w) {
  const int ib = group / 4, l = group % 4;
  const float d = read_f16_bits(b);
  const float db = d * (0.5f + static_cast<float>((b[74 + ib] >> (4 * (l / 2))) & 0xF)) * 0.25f;
  if (!(db > 0.0f)) return;  // an all-zero super-block: every code decodes to 0 anyway
  // Signs are free bits, so each element takes its target's sign and the grid point fits the magnitudes.
  float xval[8];
  std::uint8_t signs = 0;
  for (int i = 0; i < 8; ++i) {
    xval[i] = std::fabs(x[i]);
    if (x[i] < 0) signs = static_cast<std::uint8_t>(signs | (1 << i));
  }
  // Every grid point is tried with its true magnitudes (8, 25, 43 times db): the per-element cost of each of the
  // three magnitudes is computed once, so a point costs eight lookups. (The block quantizer's search — levels
  // rounded at about 8·db, then snapped to the nearest grid neighbours — is cheaper but only approximate.)
  float cost[8][3];
  constexpr float kMagnitudes[3] = {8.0f, 25.0f, 43.0f};
  for (int i = 0; i < 8; ++i)
    for (int k = 0; k < 3; ++k) {
      const float diff = db * kMagnitudes[k] - xval[i];
      cost[i][k] = w[i] * diff * diff;
    }
  std::int32_t grid_index = -1;
  float best = FLT_MAX;
  for (std::int32_t idx = 0; idx < 1024; ++idx) {
    const std::uint64_t p = kIq2sGrid[idx];
    float c = 0;
    for (int i = 0; i < 8; ++i) c += cost[i][((p >> (8 * i)) & 0xFF) >> 4];  // 8, 25, 43 >> 4 = 0, 1, 2
    if (c < best) {
      best = c;
      grid_index = idx;
    }
  }
  if (grid_index < 0) fail(ErrorKind::InvalidArgument, "IQ2_S requantizer: no finite candidate for a group (NaN input?)");
  b[2 + group] = static_cast<std::uint8_t>(grid_index & 255);
  b[66 + ib] = static_cast<std::uint8_t>((b[66 + ib] & ~(3 << (2 * l))) | ((grid_index >> 8) << (2 * l)));
  b[34 + group] = signs;
}

}  // namespace glmq::ggml
