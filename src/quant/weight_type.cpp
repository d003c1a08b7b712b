#include "quant/weight_type.h"

namespace glmq {

namespace {
struct TypeInfo {
  WeightType type;
  std::string_view name;
  int bits;  // bits per element (storage of the codes/values)
};
constexpr TypeInfo kTypes[] = {
    {WeightType::F32, "F32", 32},        {WeightType::F16, "F16", 16},         {WeightType::BF16, "BF16", 16},
    {WeightType::Affine2, "affine2", 2}, {WeightType::Affine3, "affine3", 3}, {WeightType::Affine4, "affine4", 4},
    {WeightType::Affine5, "affine5", 5}, {WeightType::Affine6, "affine6", 6}, {WeightType::Affine8, "affine8", 8},
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
int affine_bits(WeightType type) { return is_affine(type) ? info(type).bits : 0; }

std::optional<WeightType> affine_type_for_bits(int bits) {
  for (const auto& t : kTypes)
    if (is_affine(t.type) && t.bits == bits) return t.type;
  return std::nullopt;
}

std::size_t weight_row_bytes(WeightType type, std::size_t n) {
  return n * static_cast<std::size_t>(info(type).bits) / 8;
}

}  // namespace glmq
