#include "quant/recipe.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace glmq {

namespace {

bool glob_match(const char* p, const char* s) {
  // Iterative '*' matcher with backtracking to the last star.
  const char* star = nullptr;
  const char* resume = nullptr;
  while (*s) {
    if (*p == '*') {
      star = p++;
      resume = s;
    } else if (*p == *s) {
      ++p;
      ++s;
    } else if (star) {
      p = star + 1;
      s = ++resume;
    } else {
      return false;
    }
  }
  while (*p == '*') ++p;
  return *p == '\0';
}

std::string trim(const std::string& s) {
  std::size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

QuantTarget affine(int bits, std::int64_t gs = 64) {
  return QuantTarget{QuantTarget::Kind::Affine, *affine_type_for_bits(bits), gs};
}
QuantTarget float_type(WeightType t) { return QuantTarget{QuantTarget::Kind::Float, t, 0}; }

}  // namespace

std::string QuantTarget::to_string() const {
  switch (kind) {
    case Kind::Keep: return "keep";
    case Kind::Float: return std::string(weight_type_name(type));
    case Kind::Affine: return std::string(weight_type_name(type)) + " g" + std::to_string(group_size);
    case Kind::Ggml: return std::string(weight_type_name(type));
  }
  return "?";
}

bool module_matches(const std::string& pattern, const std::string& module) {
  if (glob_match(pattern.c_str(), module.c_str())) return true;
  for (std::size_t i = module.find('.'); i != std::string::npos; i = module.find('.', i + 1))
    if (glob_match(pattern.c_str(), module.c_str() + i + 1)) return true;
  return false;
}

QuantTarget parse_quant_target(const std::string& text, const std::string& where) {
  std::istringstream in(text);
  std::string type, group;
  in >> type >> group;
  std::string extra;
  if (in >> extra) fail(ErrorKind::Config, where + ": unexpected '" + extra + "' after the target");
  if (type == "keep") return QuantTarget{};
  if (type == "bf16" || type == "BF16") return float_type(WeightType::BF16);
  if (type == "f16" || type == "F16") return float_type(WeightType::F16);
  if (type == "f32" || type == "F32") return float_type(WeightType::F32);
  std::string upper = type;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (auto t = weight_type_from_name(upper); t && is_ggml_block(*t)) {
    if (!group.empty()) fail(ErrorKind::Config, where + ": unexpected '" + group + "' after the GGML type " + upper);
    return QuantTarget{QuantTarget::Kind::Ggml, *t, 0};
  }
  if (type.rfind("affine", 0) == 0) {
    int bits = 0;
    try {
      bits = std::stoi(type.substr(6));
    } catch (...) {
    }
    if (!affine_type_for_bits(bits)) fail(ErrorKind::Config, where + ": '" + type + "' is not affine2..affine8 (bits 2, 3, 4, 5, 6, 8)");
    std::int64_t gs = 64;
    if (!group.empty()) {
      if (group[0] != 'g') fail(ErrorKind::Config, where + ": group size must be written gN (g32, g64, g128), found '" + group + "'");
      try {
        gs = std::stoll(group.substr(1));
      } catch (...) {
        gs = 0;
      }
      if (gs != 32 && gs != 64 && gs != 128) fail(ErrorKind::Config, where + ": group size must be 32, 64 or 128, found '" + group + "'");
    }
    return affine(bits, gs);
  }
  fail(ErrorKind::Config, where + ": unknown target '" + type +
                              "' (expected affineN [gG], bf16, f16, f32, keep or a GGML type such as q8_0, q6_k, iq4_nl, iq2_s)");
}

Recipe Recipe::parse(const std::string& text, const std::string& where) {
  Recipe r;
  r.name_ = where;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    line = trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    const std::size_t eq = line.find('=');
    const std::string loc = where + ":" + std::to_string(n);
    if (eq == std::string::npos) fail(ErrorKind::Config, loc + ": expected 'pattern = target', found '" + line + "'");
    const std::string pattern = trim(line.substr(0, eq));
    if (pattern.empty()) fail(ErrorKind::Config, loc + ": empty pattern");
    r.rules_.push_back({pattern, parse_quant_target(trim(line.substr(eq + 1)), loc), RecipeRule::Syntax::Glob, nullptr});
  }
  if (r.rules_.empty()) fail(ErrorKind::Config, where + ": no rules");
  return r;
}

std::vector<std::string> Recipe::preset_names() {
  return {"mixed-3.5", "uniform-2", "uniform-3", "uniform-4", "uniform-5", "uniform-6", "uniform-8", "mixed_2_6", "mixed_3_6"};
}

Recipe Recipe::preset(const std::string& name, std::int64_t num_layers) {
  Recipe r;
  r.name_ = name;
  auto add = [&](const std::string& p, QuantTarget t) { r.rules_.push_back({p, t, RecipeRule::Syntax::Glob, nullptr}); };
  if (name == "mixed-3.5") {
    // The MLX build of GLM-5.2's model card: experts 3-bit, attention/shared/dense 4-bit, embedding and
    // head 6-bit, router bf16, indexer fp16, all groups of 64.
    add("mlp.gate", float_type(WeightType::BF16));
    add("indexer.*", float_type(WeightType::F16));
    add("mlp.experts.*", affine(3));
    add("embed_tokens", affine(6));
    add("lm_head", affine(6));
    add("shared_head.head", affine(6));
    add("*", affine(4));
    return r;
  }
  if (name.rfind("uniform-", 0) == 0) {
    // mlx_lm.convert -q --q-bits N: every quantizable module (the router is not one in mlx-lm).
    int bits = 0;
    try {
      bits = std::stoi(name.substr(8));
    } catch (...) {
    }
    if (!affine_type_for_bits(bits)) fail(ErrorKind::Config, "unknown recipe '" + name + "'");
    add("mlp.gate", QuantTarget{});
    add("*", affine(bits));
    return r;
  }
  if (name == "mixed_2_6" || name == "mixed_3_6") {
    // mlx-lm's mixed_quant_predicate: more bits for v/down projections of the first and last eighth of the
    // layers and every third layer between, and for lm_head; low bits elsewhere.
    const int low = name == "mixed_2_6" ? 2 : 3, high = 6;
    const std::int64_t N = num_layers;
    add("mlp.gate", QuantTarget{});
    add("lm_head", affine(high));
    for (std::int64_t i = 0; i < N; ++i) {
      const bool more = i < N / 8 || i >= 7 * N / 8 || (i - N / 8) % 3 == 2;
      if (!more) continue;
      const std::string p = "model.layers." + std::to_string(i) + ".";
      add(p + "*down_proj", affine(high));
      add(p + "*v_a_proj*", affine(high));
      add(p + "*v_b_proj*", affine(high));
      add(p + "*v_proj", affine(high));
    }
    add("*", affine(low));
    return r;
  }
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  fail(ErrorKind::Config, "unknown recipe '" + name + "' (presets: " + known + "; or a rule file path)");
}

Recipe Recipe::load(const std::string& name_or_path, std::int64_t num_layers) {
  if (std::filesystem::is_regular_file(name_or_path)) {
    std::ifstream in(name_or_path);
    std::stringstream ss;
    ss << in.rdbuf();
    return parse(ss.str(), name_or_path);
  }
  return preset(name_or_path, num_layers);
}

bool RecipeRule::matches(const std::string& name) const {
  return syntax == Syntax::Regex ? std::regex_search(name, *regex) : module_matches(pattern, name);
}

Recipe Recipe::from_tensor_types(const std::vector<std::string>& items) {
  Recipe r;
  r.name_ = "--tensor-type";
  for (const auto& item : items) {
    const std::string where = "--tensor-type '" + item + "'";
    const std::size_t eq = item.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      fail(ErrorKind::InvalidArgument, where + ": expected REGEX=TYPE, e.g. 'ffn_(gate|up|down)_exps=iq2_s'");
    RecipeRule rule;
    rule.syntax = RecipeRule::Syntax::Regex;
    rule.pattern = item.substr(0, eq);
    for (char& ch : rule.pattern) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    try {
      rule.regex = std::make_shared<const std::regex>(rule.pattern);
    } catch (const std::regex_error& e) {
      fail(ErrorKind::InvalidArgument, where + ": '" + rule.pattern + "' is not a valid regex (" + e.what() + ")");
    }
    rule.target = parse_quant_target(item.substr(eq + 1), where);
    if (rule.target.kind != QuantTarget::Kind::Ggml && rule.target.kind != QuantTarget::Kind::Float)
      fail(ErrorKind::InvalidArgument, where + ": the type must be a GGML type (q8_0, q6_k, iq4_nl, iq2_s, ...) or f32/f16/bf16");
    r.rules_.push_back(std::move(rule));
  }
  return r;
}

const RecipeRule* Recipe::rule_for(const std::string& name) const {
  for (const auto& rule : rules_)
    if (rule.matches(name)) return &rule;
  return nullptr;
}

QuantTarget Recipe::target_for(const std::string& name) const {
  const RecipeRule* rule = rule_for(name);
  return rule ? rule->target : QuantTarget{};
}

}  // namespace glmq
