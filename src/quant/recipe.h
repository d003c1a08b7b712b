#pragma once
// Quantization recipes: ordered rules "pattern → storage type". The first rule whose pattern matches a name
// decides; names no rule matches keep their stored type. MLX builds match globs against HF module paths; GGUF
// builds match llama-quantize's --tensor-type regexes against GGUF tensor names.
#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "quant/weight_type.h"

namespace glmq {

struct QuantTarget {
  enum class Kind { Keep, Float, Affine, Ggml } kind = Kind::Keep;
  WeightType type = WeightType::BF16;  // the float type, the affine type or the GGML block type
  std::int64_t group_size = 64;
  std::string to_string() const;
};

struct RecipeRule {
  enum class Syntax {
    Glob,   // '*' = any characters, matched against a whole module path or any dotted suffix of it
    Regex,  // ECMAScript regex found anywhere in the name (std::regex_search, as llama-quantize's --tensor-type)
  };
  std::string pattern;
  QuantTarget target;
  Syntax syntax = Syntax::Glob;
  std::shared_ptr<const std::regex> regex;  // the compiled pattern of a Regex rule

  bool matches(const std::string& name) const;
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
  // llama-quantize's --tensor-type list: "REGEX=TYPE" items in order (the regex lower-cased, as llama-quantize
  // does; TYPE a GGML block type such as iq2_s or q8_0, or f32/f16/bf16).
  static Recipe from_tensor_types(const std::vector<std::string>& items);

  // The target of a name: a module path such as "model.layers.3.mlp.experts.0.gate_proj" (glob rules) or a
  // GGUF tensor name such as "blk.3.ffn_up_exps.weight" (regex rules).
  QuantTarget target_for(const std::string& name) const;
  // The first rule matching `name`, or null.
  const RecipeRule* rule_for(const std::string& name) const;
  const std::string& name() const { return name_; }
  const std::vector<RecipeRule>& rules() const { return rules_; }

 private:
  std::string name_;
  std::vector<RecipeRule> rules_;
};

// "affineN [gG]", "bf16", "f16", "f32", "keep", or a GGML block type name in any case ("iq2_s", "Q4_K").
QuantTarget parse_quant_target(const std::string& text, const std::string& where);
bool module_matches(const std::string& pattern, const std::string& module);

}  // namespace glmq
