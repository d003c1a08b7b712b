// Q4_K and Q5_K quantization (quantize_row_q4_K_ref / _impl, quantize_row_q5_K_ref / _impl; quant_gguf.md §5.3):
// 8 sub-blocks of 32 fitted asymmetrically (x ≈ d·sc·L − dmin·m), the 8 scales and 8 mins stored as 6-bit integers
// under two fp16 super-scales. The two types differ only in the level range (15 vs 31), the no-imatrix search
// constants and how the fifth bit is packed, so one fitting routine serves both.
#include <cmath>
#include <cstring>

#include "quant/ggml_block_decode.h"
#include "quant/ggml_quant_fits.h"
#include "quant/ggml_quant_math.h"
#include "quant/ggml_quantizers.h"

namespace glmq::ggml {

namespace {

struct ScaleMinFit {
  int nmax;           // highest level: 15 (Q4_K) or 31 (Q5_K)
  float ref_rmin;     // make_qkx2_quants search start without an imatrix
  int ref_nstep;      // and its number of steps
  bool clamp_levels;  // Q5_K's _impl clamps the make_qp_quants levels to 63 again before packing; Q4_K's does not
};

constexpr ScaleMinFit kQ4K{15, -1.0f, 20, false};
constexpr ScaleMinFit kQ5K{31, -0.5f, 15, true};

// The inverse of scale_min_k4: sub-block j's 6-bit scale and min into the 12 packed bytes.
void pack_scale_min_k4(int j, std::uint8_t ls, std::uint8_t lm, std::uint8_t* s) {
  if (j < 4) {
    s[j] = ls;
    s[j + 4] = lm;
  } else {
    s[j + 4] = static_cast<std::uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
    s[j - 4] = static_cast<std::uint8_t>(s[j - 4] | ((ls >> 4) << 6));
    s[j] = static_cast<std::uint8_t>(s[j] | ((lm >> 4) << 6));
  }
}

// No imatrix (the _ref functions): per sub-block weights av_x + |x| with av_x the sub-block's RMS, scales and mins
// quantized linearly against their maxima.
void fit_without_importance(const ScaleMinFit& f, const float* x, std::uint8_t* L, std::uint8_t* scales_packed,
                            float& d, float& dmin) {
  float scales[8], mins[8], weights[32];
  std::uint8_t Laux[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = make_qkx2_quants(32, f.nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, f.ref_rmin, 0.1f,
                                 f.ref_nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; ++j) {
    // ggml stores nearest_int's result in a uint8_t before clamping to 63.
    auto ls = static_cast<std::uint8_t>(nearest_int(inv_scale * scales[j]));
    auto lm = static_cast<std::uint8_t>(nearest_int(inv_min * mins[j]));
    ls = ls < 63 ? ls : 63;
    lm = lm < 63 ? lm : 63;
    pack_scale_min_k4(j, ls, lm, scales_packed);
  }
  d = max_scale / 63.f;
  dmin = max_min / 63.f;
}

// With an imatrix (the _impl functions): weights qw·sqrt(σ² + x²) with σ² = 2·mean(x²) over the super-block, and
// the scales and mins quantized by make_qp_quants weighted by each sub-block's total weight.
void fit_with_importance(const ScaleMinFit& f, const float* x, const float* qw, std::uint8_t* L,
                         std::uint8_t* scales_packed, float& d, float& dmin) {
  float scales[8], mins[8], sw[8], weights[32];
  std::uint8_t Laux[32], Ls[8], Lm[8];
  float sum_x2 = 0;
  for (int l = 0; l < 256; ++l) sum_x2 += x[l] * x[l];
  const float sigma2 = 2 * sum_x2 / 256;
  for (int j = 0; j < 8; ++j) {
    for (int l = 0; l < 32; ++l) weights[l] = qw[32 * j + l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
    float sumw = 0;
    for (int l = 0; l < 32; ++l) sumw += weights[l];
    sw[j] = sumw;
    scales[j] = make_qkx3_quants(32, f.nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
  }
  d = make_qp_quants(8, 63, scales, Ls, sw);
  dmin = make_qp_quants(8, 63, mins, Lm, sw);
  for (int j = 0; j < 8; ++j) {
    std::uint8_t ls = Ls[j], lm = Lm[j];
    if (f.clamp_levels) {
      ls = ls < 63 ? ls : 63;
      lm = lm < 63 ? lm : 63;
    }
    pack_scale_min_k4(j, ls, lm, scales_packed);
  }
}

// Fits the block, stores d, dmin and the scales at b[0..15], and returns the final levels in L, recomputed from the
// stored fp16 super-scales and 6-bit sub-scales (sub-blocks whose scale rounds to 0 keep their fitted levels).
void quantize_scale_min_block(const ScaleMinFit& f, const float* x, const float* qw, std::uint8_t* b,
                              std::uint8_t* L) {
  std::uint8_t* scales_packed = b + 4;
  std::memset(scales_packed, 0, 12);
  float d, dmin;
  if (qw) fit_with_importance(f, x, qw, L, scales_packed, d, dmin);
  else fit_without_importance(f, x, L, scales_packed, d, dmin);
  store_f16(b, d);
  store_f16(b + 2, dmin);
  const float d_stored = read_f16_bits(b), dmin_stored = read_f16_bits(b + 2);
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    scale_min_k4(j, scales_packed, sc, m);
    const float dj = d_stored * static_cast<float>(sc);
    if (dj == 0.0f) continue;
    const float dm = dmin_stored * static_cast<float>(m);
    for (int ii = 0; ii < 32; ++ii) {
      const int l = nearest_int((x[32 * j + ii] + dm) / dj);
      L[32 * j + ii] = static_cast<std::uint8_t>(l < 0 ? 0 : (l > f.nmax ? f.nmax : l));
    }
  }
}

}  // namespace

void quantize_q4_k_block(const float* x, std::uint8_t* b, const float* qw) {
  std::uint8_t L[256];
  quantize_scale_min_block(kQ4K, x, qw, b, L);
  std::uint8_t* q = b + 16;
  for (int j = 0; j < 256; j += 64) {
    for (int l = 0; l < 32; ++l) q[l] = static_cast<std::uint8_t>(L[j + l] | (L[j + l + 32] << 4));
    q += 32;
  }
}

void quantize_q5_k_block(const float* x, std::uint8_t* b, const float* qw) {
  std::uint8_t L[256];
  quantize_scale_min_block(kQ5K, x, qw, b, L);
  std::uint8_t* qh = b + 16;
  std::uint8_t* ql = b + 48;
  std::memset(qh, 0, 32);
  std::uint8_t m1 = 1, m2 = 2;
  for (int n = 0; n < 256; n += 64) {
    for (int j = 0; j < 32; ++j) {
      int l1 = L[n + j], l2 = L[n + j + 32];
      if (l1 > 15) {
        l1 -= 16;
        qh[j] |= m1;
      }
      if (l2 > 15) {
        l2 -= 16;
        qh[j] |= m2;
      }
      ql[j] = static_cast<std::uint8_t>(l1 | (l2 << 4));
    }
    m1 = static_cast<std::uint8_t>(m1 << 2);
    m2 = static_cast<std::uint8_t>(m2 << 2);
    ql += 32;
  }
}

}  // namespace glmq::ggml
