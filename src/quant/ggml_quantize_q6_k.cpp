// Q6_K quantization (quantize_row_q6_K_ref / _impl; quant_gguf.md §5.3): 16 sub-blocks of 16 with signed 6-bit
// codes, each fitted by make_qx_quants, then the 16 scales quantized to int8 under one fp16 super-scale.
#include <cmath>
#include <cstring>

#include "quant/ggml_quant_fits.h"
#include "quant/ggml_quant_math.h"
#include "quant/ggml_quantizers.h"

namespace glmq::ggml {

void quantize_q6_k_block(const float* x, std::uint8_t* b, const float* qw) {
  std::int8_t L[256];
  float scales[16];
  float max_scale = 0, max_abs_scale = 0;
  for (int ib = 0; ib < 16; ++ib) {
    const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, qw ? qw + 16 * ib : nullptr);
    scales[ib] = scale;
    if (std::fabs(scale) > max_abs_scale) {
      max_abs_scale = std::fabs(scale);
      max_scale = scale;
    }
  }
  std::memset(b, 0, 210);
  if (max_abs_scale < kGroupMaxEps) return;  // all zero, d = +0
  auto* sc = reinterpret_cast<std::int8_t*>(b + 192);
  const float iscale = -128.f / max_scale;
  store_f16(b + 208, 1 / iscale);
  for (int ib = 0; ib < 16; ++ib) {
    const int s = nearest_int(iscale * scales[ib]);
    sc[ib] = static_cast<std::int8_t>(s < 127 ? s : 127);
  }
  const float d_stored = read_f16_bits(b + 208);
  for (int j = 0; j < 16; ++j) {
    const float d = d_stored * static_cast<float>(sc[j]);
    if (d == 0.0f) continue;
    for (int i = 0; i < 16; ++i) {
      int l = nearest_int(x[16 * j + i] / d);
      l = l < -32 ? -32 : (l > 31 ? 31 : l);
      L[16 * j + i] = static_cast<std::int8_t>(l + 32);
    }
  }
  std::uint8_t* ql = b;
  std::uint8_t* qh = b + 128;
  for (int j = 0; j < 256; j += 128) {
    for (int l = 0; l < 32; ++l) {
      const int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
      ql[l] = static_cast<std::uint8_t>(q1 | (q3 << 4));
      ql[l + 32] = static_cast<std::uint8_t>(q2 | (q4 << 4));
      qh[l] = static_cast<std::uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                        ((L[j + l + 96] >> 4) << 6));
    }
    ql += 64;
    qh += 32;
  }
}

}  // namespace glmq::ggml
