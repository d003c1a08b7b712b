#include "quant/gguf_type_selection.h"

#include "core/error.h"

namespace glmq {

namespace {
bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

bool gguf_tensor_allows_quantization(const std::string& name, std::size_t n_dims) {
  // The checks of llama-quant.cpp's tensor_allows_quantization that can apply to glm-dsa's tensors.
  return n_dims >= 2 && ends_with(name, "weight") && !contains(name, "_norm.weight") && !contains(name, "ffn_gate_inp.weight");
}

std::string gguf_fallback_type_name(WeightType target, std::int64_t row_length) {
  const std::int64_t block = weight_block_size(target);
  if (row_length % block == 0) return std::string(weight_type_name(target));
  std::string fallback;
  std::int64_t fallback_block = 32;
  switch (target) {
    case WeightType::IQ2_XXS:
    case WeightType::IQ2_S:
    case WeightType::IQ3_S:
    case WeightType::IQ4_XS: fallback = "IQ4_NL"; break;
    case WeightType::Q2_K:
    case WeightType::Q3_K: fallback = "Q4_0"; break;
    case WeightType::Q4_K: fallback = "Q5_0"; break;
    case WeightType::Q5_K: fallback = "Q5_1"; break;
    case WeightType::Q6_K: fallback = "Q8_0"; break;
    default:
      // A 32-block type has no smaller block to demote to: F16, like a 256-block type whose fallback does not fit.
      fallback = std::string(weight_type_name(target));
      fallback_block = block;
      break;
  }
  return row_length % fallback_block == 0 ? fallback : "F16";
}

bool gguf_type_requires_imatrix(const std::string& name, WeightType type) {
  if (name == "token_embd.weight" || name == "output.weight") return false;
  return type == WeightType::IQ2_XXS || type == WeightType::IQ2_S;
}

GgufTypeChoice choose_gguf_type(const std::string& name, const std::vector<std::int64_t>& ne, WeightType converted,
                                WeightType default_type, const Recipe& rules) {
  GgufTypeChoice c;
  c.type = c.requested = converted;
  c.quantizable = gguf_tensor_allows_quantization(name, ne.size());
  if (!c.quantizable) return c;
  c.requested = default_type;
  if (const RecipeRule* rule = rules.rule_for(name)) {
    if (rule->target.kind != QuantTarget::Kind::Ggml && rule->target.kind != QuantTarget::Kind::Float)
      fail(ErrorKind::InvalidArgument, "rule '" + rule->pattern + "' for '" + name + "' gives " + rule->target.to_string() +
                                           ", expected a GGML type or f32/f16/bf16");
    c.requested = rule->target.type;
    c.rule = rule->pattern;
  }
  const std::string fallback = gguf_fallback_type_name(c.requested, ne.at(0));
  const auto type = weight_type_from_name(fallback);
  if (!type)
    fail(ErrorKind::DType, "'" + name + "': rows of " + std::to_string(ne[0]) + " are not whole " +
                               std::string(weight_type_name(c.requested)) + " blocks and llama-quantize's fallback " + fallback +
                               " is a type glmq does not write; give this tensor a type with 32-element blocks (e.g. --tensor-type '" +
                               name + "=iq4_nl')");
  c.type = *type;
  c.fell_back = c.type != c.requested;
  return c;
}

}  // namespace glmq
