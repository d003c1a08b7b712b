#pragma once
// Quantization recipes: ordered rules "module pattern → storage type". The first rule whose pattern matches
// a module decides; modules no rule matches keep their stored type.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "quant/weight_type.h"

namespace glmq {

struct QuantTarget {
  enum class Kind { Keep, Float, Affine } kind = Kind::Keep;
  WeightType type = WeightType::BF16;  // the float type, or the affine type
  std::int64_t group_size = 64;
  std::string to_string() const;
};

struct RecipeRule {
  std::string pattern;  // glob ('*' = any characters) matched against a module path or any dotted suffix of it
  QuantTarget target;
};

class Recipe {
 public:
  // Presets: mixed-3.5, uniform-{2,3,4,5,6,8}, mixed_2_6, mixed_3_6 (mlx-lm's, which depend on the layer count).
  static Recipe preset(const std::string& name, std::int64_t num_layers);
  static std::vector<std::string> preset_names();
  // A rule file: one "pattern = target" per line (target: affineN [gG] | bf16 | f16 | f32 | keep), '#' comments.
  static Recipe parse(const std::string& text, const std::string& where);
  // A preset name or a path to a rule file.
  static Recipe load(const std::string& name_or_path, std::int64_t num_layers);

  // The target of a module path such as "model.layers.3.mlp.experts.0.gate_proj".
  QuantTarget target_for(const std::string& module) const;
  const std::string& name() const { return name_; }
  const std::vector<RecipeRule>& rules() const { return rules_; }

 private:
  std::string name_;
  std::vector<RecipeRule> rules_;
};

QuantTarget parse_quant_target(const std::string& text, const std::string& where);
bool module_matches(const std::string& pattern, const std::string& module);

}  // namespace glmq
