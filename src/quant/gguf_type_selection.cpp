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

WeightType gguf_fallback_type(WeightType target, std::int64_t row_length) {
  if (row_length % weight_block_size(target) == 0) return target;
  WeightType fallback = target;
  switch (target) {
    case WeightType::IQ2_XXS:
    case WeightType::IQ2_S:
    case WeightType::IQ3_S:
    case WeightType::IQ4_XS: fallback = WeightType::IQ4_NL; break;
    case WeightType::Q2_K:
    case WeightType::Q3_K: fallback = WeightType::Q4_0; break;
    case WeightType::Q4_K: fallback = WeightType::Q5_0; break;
    case WeightType::Q5_K: fallback = WeightType::Q5_1; break;
    case WeightType::Q6_K: fallback = WeightType::Q8_0; break;
    default: break;  // a 32-block type has no smaller block to demote to: F16, like a 256-block type whose fallback does not fit
  }
  return row_length % weight_block_size(fallback) == 0 ? fallback : WeightType::F16;
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
  c.type = gguf_fallback_type(c.requested, ne.at(0));
  c.fell_back = c.type != c.requested;
  return c;
}

}  // namespace glmq
