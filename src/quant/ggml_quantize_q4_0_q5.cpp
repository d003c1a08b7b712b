// Q4_0, Q5_0 and Q5_1 quantization as llama-quantize runs it (ggml-quants.c quantize_q4_0/q5_0/q5_1): without an
// importance matrix the _ref rounding (one scale from the block's extreme value), with one the _impl fit
// (make_qx_quants for the symmetric Q4_0/Q5_0, make_qkx3_quants for Q5_1's scale and min) weighted by
// qw·sqrt(σ² + x²), where σ² is the mean square of the whole row — which is why these quantize rows, not blocks.
// llama-quantize writes them as the fallbacks of Q2_K/Q3_K (Q4_0), Q4_K (Q5_0) and Q5_K (Q5_1) on rows that are
// not whole 256-blocks (GLM's attn_k_b), so matching its bytes matters for the same files.
#include <cmath>
#include <cstring>

#include "quant/ggml_quant_fits.h"
#include "quant/ggml_quant_math.h"
#include "quant/ggml_quantizers.h"

namespace glmq::ggml {

float row_mean_square(const float* x, std::int64_t n) {
  float sum_x2 = 0;
  for (std::int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  return sum_x2 / static_cast<float>(n);
}

namespace {

constexpr int kBlock = 32;

// The value of largest magnitude (the first one on ties), signed.
float signed_extreme(const float* x) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kBlock; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// Symmetric codes q ∈ [0, 2·half) for y = (q − half)·d with d = extreme / −half, rounded as the _ref functions
// do: truncation of x/d + half + 0.5 (values are ≥ 0 there), capped at 2·half − 1.
float symmetric_ref_codes(const float* x, int half, std::uint8_t* q) {
  const float d = signed_extreme(x) / static_cast<float>(-half);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const float offset = static_cast<float>(half) + 0.5f;
  for (int j = 0; j < kBlock; ++j) {
    const float v = x[j] * id;
    const int l = static_cast<std::int8_t>(v + offset);
    q[j] = static_cast<std::uint8_t>(l < 2 * half - 1 ? l : 2 * half - 1);
  }
  return d;
}

void importance_weights(const float* x, const float* qw, float sigma2, float* weight) {
  for (int j = 0; j < kBlock; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + x[j] * x[j]);
}

// 16 bytes of nibbles: element j in the low nibble of byte j, element j + 16 in its high nibble.
void pack_nibbles(const std::uint8_t* q, std::uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<std::uint8_t>((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
}

// Five-bit codes: nibbles as above, and bit 4 of element j as bit j of the little-endian u32 at `qh`.
void pack_five_bits(const std::uint8_t* q, std::uint8_t* qh, std::uint8_t* qs) {
  pack_nibbles(q, qs);
  std::uint32_t high = 0;
  for (int j = 0; j < kBlock; ++j) high |= static_cast<std::uint32_t>((q[j] >> 4) & 1) << j;
  std::memcpy(qh, &high, 4);
}

// make_qx_quants's codes are l + nmax as int8; here they are already ≥ 0.
float symmetric_fit_codes(const float* x, int half, const float* weight, std::uint8_t* q) {
  std::int8_t L[kBlock];
  const float d = make_qx_quants(kBlock, half, x, L, weight);
  for (int j = 0; j < kBlock; ++j) q[j] = static_cast<std::uint8_t>(L[j]);
  return d;
}

// Q4_0 block (18 bytes): d f16 @0, qs @2; y = (q − 8)·d. Q5_0 (22 bytes): d f16 @0, qh @2, qs @6; y = (q − 16)·d.
template <int Half>
void quantize_symmetric_block(const float* xb, std::uint8_t* b, const float* qw, float sigma2) {
  std::uint8_t q[kBlock];
  float d;
  if (qw) {
    float weight[kBlock];
    importance_weights(xb, qw, sigma2, weight);
    d = symmetric_fit_codes(xb, Half, weight, q);
  } else {
    d = symmetric_ref_codes(xb, Half, q);
  }
  store_f16(b, d);
  if constexpr (Half == 8) pack_nibbles(q, b + 2);
  else pack_five_bits(q, b + 2, b + 6);
}

template <int Half>
void quantize_symmetric_row(const float* x, std::uint8_t* row, std::int64_t cols, const float* qw) {
  constexpr std::size_t kBytes = Half == 8 ? 18 : 22;
  const float sigma2 = qw ? row_mean_square(x, cols) : 0.0f;
  for (std::int64_t ib = 0; ib < cols / kBlock; ++ib)
    quantize_symmetric_block<Half>(x + ib * kBlock, row + static_cast<std::size_t>(ib) * kBytes, qw ? qw + ib * kBlock : nullptr, sigma2);
}

// Q5_1 without an imatrix: d = (max − min)/31 over the block, m = min, q = trunc((x − min)/d + 0.5).
float asymmetric_ref_codes(const float* x, std::uint8_t* q, float& min) {
  min = x[0];
  float max = x[0];
  for (int j = 1; j < kBlock; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
  // ggml starts from ±FLT_MAX and scans all 32; starting from x[0] finds the same extremes.
  const float d = (max - min) / 31;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kBlock; ++j) {
    const float v = (x[j] - min) * id;
    q[j] = static_cast<std::uint8_t>(v + 0.5f);
  }
  return d;
}

}  // namespace

void quantize_q4_0_row(const float* x, std::uint8_t* row, std::int64_t cols, const float* qw) {
  quantize_symmetric_row<8>(x, row, cols, qw);
}

void quantize_q5_0_row(const float* x, std::uint8_t* row, std::int64_t cols, const float* qw) {
  quantize_symmetric_row<16>(x, row, cols, qw);
}

void quantize_q4_0_block(const float* x, std::uint8_t* block, const float* qw, float sigma2) {
  quantize_symmetric_block<8>(x, block, qw, sigma2);
}

void quantize_q5_0_block(const float* x, std::uint8_t* block, const float* qw, float sigma2) {
  quantize_symmetric_block<16>(x, block, qw, sigma2);
}

// Q5_1 block (24 bytes): d f16 @0, m f16 @2, qh @4, qs @8; y = q·d + m.
void quantize_q5_1_block(const float* xb, std::uint8_t* b, const float* qw, float sigma2) {
  std::uint8_t q[kBlock];
  float d, m;
  if (qw) {
    float weight[kBlock];
    importance_weights(xb, qw, sigma2, weight);
    std::uint8_t aux[kBlock];
    float neg_min;
    d = make_qkx3_quants(kBlock, 31, xb, weight, q, &neg_min, aux, -0.9f, 0.05f, 36, false);
    m = -neg_min;
  } else {
    d = asymmetric_ref_codes(xb, q, m);
  }
  store_f16(b, d);
  store_f16(b + 2, m);
  pack_five_bits(q, b + 4, b + 8);
}

void quantize_q5_1_row(const float* x, std::uint8_t* row, std::int64_t cols, const float* qw) {
  const float sigma2 = qw ? row_mean_square(x, cols) : 0.0f;
  for (std::int64_t ib = 0; ib < cols / kBlock; ++ib)
    quantize_q5_1_block(x + ib * kBlock, row + static_cast<std::size_t>(ib) * 24, qw ? qw + ib * kBlock : nullptr, sigma2);
}

}  // namespace glmq::ggml
