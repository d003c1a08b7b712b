#include "quant/ggml_dequantize.h"

#include "core/error.h"
#include "quant/ggml_block_decode.h"

namespace glmq {

namespace {
template <void (*Decode)(const std::uint8_t*, float*)>
void decode_all(WeightType type, const std::uint8_t* blocks, float* out, std::int64_t n) {
  const std::int64_t bs = weight_block_size(type);
  const std::size_t bb = weight_block_bytes(type);
  for (std::int64_t i = 0; i < n / bs; ++i) Decode(blocks + static_cast<std::size_t>(i) * bb, out + i * bs);
}
}  // namespace

void dequantize_ggml(WeightType type, const std::uint8_t* blocks, float* out, std::int64_t n) {
  switch (type) {
    case WeightType::Q8_0: return decode_all<ggml::decode_q8_0>(type, blocks, out, n);
    case WeightType::Q4_0: return decode_all<ggml::decode_q4_0>(type, blocks, out, n);
    case WeightType::Q5_0: return decode_all<ggml::decode_q5_0>(type, blocks, out, n);
    case WeightType::Q5_1: return decode_all<ggml::decode_q5_1>(type, blocks, out, n);
    case WeightType::Q2_K: return decode_all<ggml::decode_q2_k>(type, blocks, out, n);
    case WeightType::Q3_K: return decode_all<ggml::decode_q3_k>(type, blocks, out, n);
    case WeightType::Q4_K: return decode_all<ggml::decode_q4_k>(type, blocks, out, n);
    case WeightType::Q5_K: return decode_all<ggml::decode_q5_k>(type, blocks, out, n);
    case WeightType::Q6_K: return decode_all<ggml::decode_q6_k>(type, blocks, out, n);
    case WeightType::IQ4_NL: return decode_all<ggml::decode_iq4_nl>(type, blocks, out, n);
    case WeightType::IQ4_XS: return decode_all<ggml::decode_iq4_xs>(type, blocks, out, n);
    case WeightType::IQ2_XXS: return decode_all<ggml::decode_iq2_xxs>(type, blocks, out, n);
    case WeightType::IQ2_S: return decode_all<ggml::decode_iq2_s>(type, blocks, out, n);
    case WeightType::IQ3_S: return decode_all<ggml::decode_iq3_s>(type, blocks, out, n);
    default:
      fail(ErrorKind::DType, "dequantize_ggml: " + std::string(weight_type_name(type)) + " is not a GGML block type");
  }
}

}  // namespace glmq
