#include "quant/ggml_quantize.h"

#include <cmath>

#include "core/error.h"
#include "quant/ggml_quant_math.h"
#include "quant/ggml_quantizers.h"

namespace glmq {

namespace ggml {

// Q8_0 (quantize_row_q8_0_ref; llama-quantize ignores the imatrix for it): d = amax/127 stored as fp16, codes
// rounded half away from zero from the float scale.
void quantize_q8_0_block(const float* x, std::uint8_t* b) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_f16(b, d);
  for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<std::uint8_t>(static_cast<std::int8_t>(std::round(x[j] * id)));
}

}  // namespace ggml

bool ggml_can_quantize(WeightType type) {
  return type == WeightType::Q8_0 || type == WeightType::Q6_K || type == WeightType::IQ4_NL;
}

void quantize_ggml(WeightType type, const float* src, std::uint8_t* dst, std::int64_t rows, std::int64_t cols,
                   const float* importance) {
  if (!ggml_can_quantize(type))
    fail(ErrorKind::DType, "glmq cannot quantize to " + std::string(weight_type_name(type)) + " (it can to Q8_0, Q6_K, IQ4_NL)");
  const std::int64_t bs = weight_block_size(type);
  if (cols % bs != 0)
    fail(ErrorKind::Shape, "quantize " + std::string(weight_type_name(type)) + ": rows of " + std::to_string(cols) +
                               " are not whole blocks of " + std::to_string(bs));
  const std::size_t bb = weight_block_bytes(type);
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* x = src + r * cols;
    std::uint8_t* y = dst + static_cast<std::size_t>(r) * weight_row_bytes(type, static_cast<std::size_t>(cols));
    for (std::int64_t b = 0; b < cols / bs; ++b) {
      const float* xb = x + b * bs;
      std::uint8_t* yb = y + static_cast<std::size_t>(b) * bb;
      const float* qw = importance ? importance + b * bs : nullptr;
      switch (type) {
        case WeightType::Q8_0: ggml::quantize_q8_0_block(xb, yb); break;
        case WeightType::Q6_K: ggml::quantize_q6_k_block(xb, yb, qw); break;
        case WeightType::IQ4_NL: ggml::quantize_iq4_nl_block(xb, yb, qw); break;
        default: break;
      }
    }
  }
}

}  // namespace glmq
