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

bool ggml_quantizers_fuse_multiply_add() {
#if defined(__OPTIMIZE__) && (defined(__FMA__) || defined(__aarch64__))
  return true;
#else
  return false;
#endif
}

namespace {

using BlockQuantizer = void (*)(const float*, std::uint8_t*, const float*);

// Q8_0 ignores the importance, as quantize_q8_0 does.
void quantize_q8_0_ignoring_importance(const float* x, std::uint8_t* b, const float*) { ggml::quantize_q8_0_block(x, b); }

BlockQuantizer block_quantizer(WeightType type) {
  switch (type) {
    case WeightType::Q8_0: return quantize_q8_0_ignoring_importance;
    case WeightType::Q2_K: return ggml::quantize_q2_k_block;
    case WeightType::Q3_K: return ggml::quantize_q3_k_block;
    case WeightType::Q4_K: return ggml::quantize_q4_k_block;
    case WeightType::Q5_K: return ggml::quantize_q5_k_block;
    case WeightType::Q6_K: return ggml::quantize_q6_k_block;
    case WeightType::IQ4_NL: return ggml::quantize_iq4_nl_block;
    case WeightType::IQ4_XS: return ggml::quantize_iq4_xs_block;
    case WeightType::IQ2_S: return ggml::quantize_iq2_s_block;
    case WeightType::IQ2_XXS: return ggml::quantize_iq2_xxs_block;
    case WeightType::IQ3_S: return ggml::quantize_iq3_s_block;
    default: return nullptr;
  }
}

using RowQuantizer = void (*)(const float*, std::uint8_t*, std::int64_t, const float*);

// Types whose importance weighting spans the whole row.
RowQuantizer row_quantizer(WeightType type) {
  switch (type) {
    case WeightType::Q4_0: return ggml::quantize_q4_0_row;
    case WeightType::Q5_0: return ggml::quantize_q5_0_row;
    case WeightType::Q5_1: return ggml::quantize_q5_1_row;
    default: return nullptr;
  }
}

}  // namespace

bool ggml_can_quantize(WeightType type) { return block_quantizer(type) != nullptr || row_quantizer(type) != nullptr; }

bool ggml_quantize_requires_importance(WeightType type) { return type == WeightType::IQ2_XXS; }

void quantize_ggml(WeightType type, const float* src, std::uint8_t* dst, std::int64_t rows, std::int64_t cols,
                   const float* importance) {
  const BlockQuantizer quantize_block = block_quantizer(type);
  const RowQuantizer quantize_row = row_quantizer(type);
  if (!quantize_block && !quantize_row)
    fail(ErrorKind::DType, "glmq cannot quantize to " + std::string(weight_type_name(type)) +
                               " (it can to Q8_0, Q4_0, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, IQ2_XXS, IQ2_S, IQ3_S)");
  if (!importance && ggml_quantize_requires_importance(type))
    fail(ErrorKind::InvalidArgument, "quantize " + std::string(weight_type_name(type)) +
                                         ": this type needs importance weights (an imatrix); ggml has no unweighted form");
  const std::int64_t bs = weight_block_size(type);
  if (cols % bs != 0)
    fail(ErrorKind::Shape, "quantize " + std::string(weight_type_name(type)) + ": rows of " + std::to_string(cols) +
                               " are not whole blocks of " + std::to_string(bs));
  const std::size_t bb = weight_block_bytes(type);
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* x = src + r * cols;
    std::uint8_t* y = dst + static_cast<std::size_t>(r) * weight_row_bytes(type, static_cast<std::size_t>(cols));
    if (quantize_row) {
      quantize_row(x, y, cols, importance);
      continue;
    }
    for (std::int64_t b = 0; b < cols / bs; ++b) {
      const float* xb = x + b * bs;
      std::uint8_t* yb = y + static_cast<std::size_t>(b) * bb;
      quantize_block(xb, yb, importance ? importance + b * bs : nullptr);
    }
  }
}

}  // namespace glmq
