#include "quant/weight_type.h"

namespace glmq {

namespace {
struct TypeInfo {
  WeightType type;
  std::string_view name;
  int bits;  // bits per element (storage of the codes/values); 0 for GGML blocks
  int block = 1;       // elements per block
  int block_bytes = 0; // bytes per block (GGML types)
};
constexpr TypeInfo kTypes[] = {
    {WeightType::F32, "F32", 32},        {WeightType::F16, "F16", 16},         {WeightType::BF16, "BF16", 16},
    {WeightType::Affine2, "affine2", 2}, {WeightType::Affine3, "affine3", 3}, {WeightType::Affine4, "affine4", 4},
    {WeightType::Affine5, "affine5", 5}, {WeightType::Affine6, "affine6", 6}, {WeightType::Affine8, "affine8", 8},
    // Block sizes and bytes: ggml's type_traits (= gguf-py GGML_QUANT_SIZES), quant_gguf.md §4.1.
    {WeightType::Q8_0, "Q8_0", 0, 32, 34},       {WeightType::Q4_0, "Q4_0", 0, 32, 18},
    {WeightType::Q5_0, "Q5_0", 0, 32, 22},       {WeightType::Q5_1, "Q5_1", 0, 32, 24},
    {WeightType::Q2_K, "Q2_K", 0, 256, 84},      {WeightType::Q3_K, "Q3_K", 0, 256, 110},
    {WeightType::Q4_K, "Q4_K", 0, 256, 144},     {WeightType::Q5_K, "Q5_K", 0, 256, 176},
    {WeightType::Q6_K, "Q6_K", 0, 256, 210},     {WeightType::IQ4_NL, "IQ4_NL", 0, 32, 18},
    {WeightType::IQ4_XS, "IQ4_XS", 0, 256, 136}, {WeightType::IQ2_XXS, "IQ2_XXS", 0, 256, 66},
    {WeightType::IQ2_S, "IQ2_S", 0, 256, 82},    {WeightType::IQ3_S, "IQ3_S", 0, 256, 110},
};
const TypeInfo& info(WeightType type) {
  for (const auto& t : kTypes)
    if (t.type == type) return t;
  return kTypes[0];
}
}  // namespace

std::string_view weight_type_name(WeightType type) { return info(type).name; }

std::optional<WeightType> weight_type_from_name(std::string_view name) {
  for (const auto& t : kTypes)
    if (t.name == name) return t.type;
  return std::nullopt;
}

bool is_affine(WeightType type) { return type >= WeightType::Affine2 && type <= WeightType::Affine8; }
bool is_float_type(WeightType type) { return type == WeightType::F32 || type == WeightType::F16 || type == WeightType::BF16; }
bool is_ggml_block(WeightType type) { return type >= WeightType::Q8_0 && type <= WeightType::IQ3_S; }
std::int64_t weight_block_size(WeightType type) { return info(type).block; }
std::size_t weight_block_bytes(WeightType type) {
  const TypeInfo& t = info(type);
  return t.block_bytes ? static_cast<std::size_t>(t.block_bytes) : static_cast<std::size_t>(t.bits) / 8;
}
double weight_bits_per_weight(WeightType type) {
  const TypeInfo& t = info(type);
  return t.block_bytes ? 8.0 * t.block_bytes / t.block : t.bits;
}
int affine_bits(WeightType type) { return is_affine(type) ? info(type).bits : 0; }

std::optional<WeightType> affine_type_for_bits(int bits) {
  for (const auto& t : kTypes)
    if (is_affine(t.type) && t.bits == bits) return t.type;
  return std::nullopt;
}

std::size_t weight_row_bytes(WeightType type, std::size_t n) {
  const TypeInfo& t = info(type);
  if (t.block_bytes) return n / static_cast<std::size_t>(t.block) * static_cast<std::size_t>(t.block_bytes);
  return n * static_cast<std::size_t>(t.bits) / 8;
}

}  // namespace glmq
