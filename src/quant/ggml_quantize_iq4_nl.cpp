// IQ4_NL quantization as llama-quantize runs it (quantize_row_iq4_nl_impl with super-block = block = 32, ntry = 7;
// quant_gguf.md §5.4): nearest non-linear level per value, then 15 trial scales by weighted least squares.
#include <cmath>
#include <cstring>

#include "quant/ggml_iq_tables.h"
#include "quant/ggml_quant_math.h"
#include "quant/ggml_quantizers.h"

namespace glmq::ggml {

namespace {

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

}  // namespace

void quantize_iq4_nl_block(const float* x, std::uint8_t* b, const float* qw) {
  constexpr int kTries = 7;
  const std::int8_t* values = kValuesIq4nl;
  float sigma2 = 0;
  for (int j = 0; j < 32; ++j) sigma2 += x[j] * x[j];
  sigma2 *= 2.f / 32;
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
  float d = 0;
  if (amax >= kGroupMaxEps) {
    d = -max / static_cast<float>(values[0]);
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
      const float q = static_cast<float>(values[best_index_int8(values, id * x[j])]);
      sumqx += weight[j] * q * x[j];
      sumq2 += weight[j] * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int itry = -kTries; itry <= kTries; ++itry) {
      id = static_cast<float>(itry + values[0]) / max;
      sumqx = sumq2 = 0;
      for (int j = 0; j < 32; ++j) {
        const float q = static_cast<float>(values[best_index_int8(values, id * x[j])]);
        sumqx += weight[j] * q * x[j];
        sumq2 += weight[j] * q * q;
      }
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        d = sumqx / sumq2;
        best = d * sumqx;
      }
    }
  }
  store_f16(b, d);
  // Final levels from the unrounded float scale (not the stored fp16 one), as ggml does.
  const float id = d != 0.0f ? 1 / d : 0.0f;
  std::uint8_t L[32];
  for (int j = 0; j < 32; ++j) L[j] = static_cast<std::uint8_t>(best_index_int8(values, id * x[j]));
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<std::uint8_t>(L[j] | (L[16 + j] << 4));
}

}  // namespace glmq::ggml
