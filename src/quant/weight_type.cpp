#include "quant/weight_type.h"

namespace glmq {

std::string_view weight_type_name(WeightType type) {
  switch (type) {
    case WeightType::F32: return "F32";
    case WeightType::F16: return "F16";
    case WeightType::BF16: return "BF16";
  }
  return "?";
}

std::optional<WeightType> weight_type_from_name(std::string_view name) {
  if (name == "F32") return WeightType::F32;
  if (name == "F16") return WeightType::F16;
  if (name == "BF16") return WeightType::BF16;
  return std::nullopt;
}

std::size_t weight_row_bytes(WeightType type, std::size_t n) {
  switch (type) {
    case WeightType::F32: return 4 * n;
    case WeightType::F16:
    case WeightType::BF16: return 2 * n;
  }
  return 0;
}

}  // namespace glmq
