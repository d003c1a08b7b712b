#include "formats/ggml_types.h"

#include <algorithm>
#include <cctype>

namespace glmq {

namespace {
// ggml.h enum ggml_type and gguf-py GGML_QUANT_SIZES (quant_gguf.md §1.6, §4.1).
constexpr GgmlTypeInfo kGgmlTypes[] = {
    {0, "F32", 1, 4},          {1, "F16", 1, 2},          {2, "Q4_0", 32, 18},       {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},       {7, "Q5_1", 32, 24},       {8, "Q8_0", 32, 34},       {9, "Q8_1", 32, 40},
    {10, "Q2_K", 256, 84},     {11, "Q3_K", 256, 110},    {12, "Q4_K", 256, 144},    {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},    {15, "Q8_K", 256, 292},    {16, "IQ2_XXS", 256, 66},  {17, "IQ2_XS", 256, 74},
    {18, "IQ3_XXS", 256, 98},  {19, "IQ1_S", 256, 50},    {20, "IQ4_NL", 32, 18},    {21, "IQ3_S", 256, 110},
    {22, "IQ2_S", 256, 82},    {23, "IQ4_XS", 256, 136},  {24, "I8", 1, 1},          {25, "I16", 1, 2},
    {26, "I32", 1, 4},         {27, "I64", 1, 8},         {28, "F64", 1, 8},         {29, "IQ1_M", 256, 56},
    {30, "BF16", 1, 2},        {34, "TQ1_0", 256, 54},    {35, "TQ2_0", 256, 66},    {39, "MXFP4", 32, 17},
    {40, "NVFP4", 64, 36},     {41, "Q1_0", 128, 18},
};

struct Pair {
  std::uint32_t id;
  WeightType type;
};
constexpr Pair kWeightTypes[] = {
    {0, WeightType::F32},     {1, WeightType::F16},      {30, WeightType::BF16},   {8, WeightType::Q8_0},
    {2, WeightType::Q4_0},    {10, WeightType::Q2_K},    {11, WeightType::Q3_K},   {12, WeightType::Q4_K},
    {13, WeightType::Q5_K},   {14, WeightType::Q6_K},    {20, WeightType::IQ4_NL}, {23, WeightType::IQ4_XS},
    {16, WeightType::IQ2_XXS}, {22, WeightType::IQ2_S},  {21, WeightType::IQ3_S},  {6, WeightType::Q5_0},
    {7, WeightType::Q5_1},
};
}  // namespace

std::optional<GgmlTypeInfo> ggml_type_info(std::uint32_t id) {
  for (const auto& t : kGgmlTypes)
    if (t.id == id) return t;
  return std::nullopt;
}

std::string ggml_type_name(std::uint32_t id) {
  auto t = ggml_type_info(id);
  return t ? std::string(t->name) : "type " + std::to_string(id);
}

std::optional<std::uint32_t> ggml_type_from_name(const std::string& name) {
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  for (const auto& t : kGgmlTypes)
    if (upper == t.name) return t.id;
  return std::nullopt;
}

std::optional<WeightType> weight_type_from_ggml(std::uint32_t id) {
  for (const auto& p : kWeightTypes)
    if (p.id == id) return p.type;
  return std::nullopt;
}

std::optional<std::uint32_t> ggml_id_of(WeightType type) {
  for (const auto& p : kWeightTypes)
    if (p.type == type) return p.id;
  return std::nullopt;
}

}  // namespace glmq
