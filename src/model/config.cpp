#include "model/config.h"

#include <cmath>
#include <filesystem>
#include <numbers>

#include "core/error.h"

namespace glmq {

namespace {

std::int64_t get_int(const Json& j, const char* key, const std::string& where, bool required = true,
                     std::int64_t fallback = 0) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) fail(ErrorKind::Config, where + ": missing required key '" + key + "'");
    return fallback;
  }
  if (!j[key].is_number_integer())
    fail(ErrorKind::Config, where + ": key '" + key + "' must be an integer, found " + j[key].dump());
  return j[key].get<std::int64_t>();
}

std::int64_t get_positive(const Json& j, const char* key, const std::string& where) {
  std::int64_t v = get_int(j, key, where);
  if (v <= 0) fail(ErrorKind::Config, where + ": key '" + key + "' must be positive, found " + std::to_string(v));
  return v;
}

double get_double(const Json& j, const char* key, const std::string& where, double fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number()) fail(ErrorKind::Config, where + ": key '" + key + "' must be a number, found " + j[key].dump());
  return j[key].get<double>();
}

bool get_bool(const Json& j, const char* key, const std::string& where, bool fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_boolean()) fail(ErrorKind::Config, where + ": key '" + key + "' must be true or false, found " + j[key].dump());
  return j[key].get<bool>();
}

std::string get_string(const Json& j, const char* key, const std::string& where, const std::string& fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_string()) fail(ErrorKind::Config, where + ": key '" + key + "' must be a string, found " + j[key].dump());
  return j[key].get<std::string>();
}

void parse_rope(const Json& j, GlmConfig& c, const std::string& where) {
  // Newer configs: rope_parameters {rope_theta, rope_type, ...}; older: rope_theta + rope_scaling.
  Json params = Json::object();
  if (j.contains("rope_parameters") && !j["rope_parameters"].is_null()) {
    if (!j["rope_parameters"].is_object()) fail(ErrorKind::Config, where + ": 'rope_parameters' must be an object");
    params = j["rope_parameters"];
  } else if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    if (!j["rope_scaling"].is_object()) fail(ErrorKind::Config, where + ": 'rope_scaling' must be an object");
    params = j["rope_scaling"];
  }
  const std::string w = where + " rope parameters";
  c.rope.theta = get_double(params, "rope_theta", w, get_double(j, "rope_theta", where, 10000.0));
  std::string type = get_string(params, "rope_type", w, get_string(params, "type", w, "default"));
  if (type != "default" && type != "yarn")
    fail(ErrorKind::Config, w + ": rope_type '" + type + "' is not supported (expected 'default' or 'yarn')");
  c.rope.type = type;
  if (type == "yarn") {
    c.rope.factor = get_double(params, "factor", w, 0.0);
    if (c.rope.factor < 1.0) fail(ErrorKind::Config, w + ": yarn needs 'factor' >= 1, found " + std::to_string(c.rope.factor));
    c.rope.original_max_position_embeddings = get_double(params, "original_max_position_embeddings", w,
                                                         static_cast<double>(c.max_position_embeddings));
    c.rope.beta_fast = get_double(params, "beta_fast", w, 32.0);
    c.rope.beta_slow = get_double(params, "beta_slow", w, 1.0);
    c.rope.mscale = get_double(params, "mscale", w, 0.0);
    c.rope.mscale_all_dim = get_double(params, "mscale_all_dim", w, 0.0);
    c.rope.attention_factor = get_double(params, "attention_factor", w, 0.0);
    c.rope.truncate = get_bool(params, "truncate", w, true);
  }
  if (!(c.rope.theta > 0)) fail(ErrorKind::Config, w + ": rope_theta must be positive");
}

std::vector<bool> parse_mlp_schedule(const Json& j, std::int64_t layers, const std::string& where) {
  std::vector<bool> dense(static_cast<std::size_t>(layers));
  if (j.contains("mlp_layer_types") && !j["mlp_layer_types"].is_null()) {
    const Json& t = j["mlp_layer_types"];
    if (!t.is_array() || static_cast<std::int64_t>(t.size()) != layers)
      fail(ErrorKind::Config, where + ": 'mlp_layer_types' must list " + std::to_string(layers) + " entries, found " +
                                  (t.is_array() ? std::to_string(t.size()) : t.dump()));
    for (std::size_t i = 0; i < t.size(); ++i) {
      std::string v = t[i].is_string() ? t[i].get<std::string>() : t[i].dump();
      if (v != "dense" && v != "sparse")
        fail(ErrorKind::Config, where + ": mlp_layer_types[" + std::to_string(i) + "] is '" + v + "', expected 'dense' or 'sparse'");
      dense[i] = v == "dense";
    }
  } else {
    std::int64_t k = get_int(j, "first_k_dense_replace", where, false, 0);
    if (k < 0 || k > layers) fail(ErrorKind::Config, where + ": 'first_k_dense_replace' " + std::to_string(k) + " out of range");
    for (std::int64_t i = 0; i < layers; ++i) dense[static_cast<std::size_t>(i)] = i < k;
  }
  return dense;
}

// yarn's "mscale" function as in the DeepSeek/HF code: 0.1·m·ln(s) + 1 for s > 1.
double yarn_mscale(double scale, double m) { return scale <= 1.0 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; }

}  // namespace

std::vector<bool> derive_indexer_schedule(const Json& j, std::int64_t layers, const std::string& where) {
  std::vector<bool> full(static_cast<std::size_t>(layers), true);
  if (j.contains("indexer_types") && !j["indexer_types"].is_null()) {
    const Json& t = j["indexer_types"];
    if (!t.is_array() || static_cast<std::int64_t>(t.size()) < layers)
      fail(ErrorKind::Config, where + ": 'indexer_types' must list at least " + std::to_string(layers) + " entries, found " +
                                  (t.is_array() ? std::to_string(t.size()) : t.dump()));
    for (std::int64_t i = 0; i < layers; ++i) {
      const Json& e = t[static_cast<std::size_t>(i)];
      std::string v = e.is_string() ? e.get<std::string>() : e.dump();
      if (v != "full" && v != "shared")
        fail(ErrorKind::Config, where + ": indexer_types[" + std::to_string(i) + "] is '" + v + "', expected 'full' or 'shared'");
      full[static_cast<std::size_t>(i)] = v == "full";
    }
  } else if (j.contains("index_topk_pattern") && j["index_topk_pattern"].is_string()) {
    std::string p = j["index_topk_pattern"].get<std::string>();
    if (static_cast<std::int64_t>(p.size()) < layers)
      fail(ErrorKind::Config, where + ": 'index_topk_pattern' has " + std::to_string(p.size()) + " letters, expected " +
                                  std::to_string(layers));
    for (std::int64_t i = 0; i < layers; ++i) {
      char ch = p[static_cast<std::size_t>(i)];
      if (ch != 'F' && ch != 'S')
        fail(ErrorKind::Config, where + ": index_topk_pattern letter " + std::to_string(i) + " is '" + std::string(1, ch) +
                                    "', expected 'F' or 'S'");
      full[static_cast<std::size_t>(i)] = ch == 'F';
    }
  } else {
    std::int64_t freq = get_int(j, "index_topk_freq", where, false, 1);
    std::int64_t offset = get_int(j, "index_skip_topk_offset", where, false, 2);
    if (freq <= 0) fail(ErrorKind::Config, where + ": 'index_topk_freq' must be positive, found " + std::to_string(freq));
    for (std::int64_t i = 0; i < layers; ++i)
      full[static_cast<std::size_t>(i)] = std::max<std::int64_t>(i - offset + 1, 0) % freq == 0;
  }
  if (layers > 0 && !full[0])
    fail(ErrorKind::Config, where + ": layer 0 must run the indexer ('full'): a 'shared' layer needs a full layer below it");
  return full;
}

GlmConfig GlmConfig::from_hf_json(const Json& j, const std::string& where) {
  if (!j.is_object()) fail(ErrorKind::Config, where + ": expected a JSON object");
  std::string model_type = get_string(j, "model_type", where, "");
  if (model_type != "glm_moe_dsa")
    fail(ErrorKind::Config, where + ": model_type is '" + model_type + "', expected 'glm_moe_dsa'");
  GlmConfig c;
  c.vocab_size = get_positive(j, "vocab_size", where);
  c.hidden_size = get_positive(j, "hidden_size", where);
  c.num_hidden_layers = get_positive(j, "num_hidden_layers", where);
  c.num_nextn_predict_layers = get_int(j, "num_nextn_predict_layers", where, false, 0);
  c.intermediate_size = get_positive(j, "intermediate_size", where);
  c.moe_intermediate_size = get_positive(j, "moe_intermediate_size", where);
  c.n_routed_experts = get_positive(j, "n_routed_experts", where);
  c.num_experts_per_tok = get_positive(j, "num_experts_per_tok", where);
  c.n_shared_experts = get_int(j, "n_shared_experts", where, false, 0);
  c.n_group = get_int(j, "n_group", where, false, 1);
  c.topk_group = get_int(j, "topk_group", where, false, 1);
  c.norm_topk_prob = get_bool(j, "norm_topk_prob", where, true);
  c.routed_scaling_factor = get_double(j, "routed_scaling_factor", where, 1.0);
  c.num_attention_heads = get_positive(j, "num_attention_heads", where);
  std::int64_t kv_heads = get_int(j, "num_key_value_heads", where, false, c.num_attention_heads);
  if (kv_heads != c.num_attention_heads)
    fail(ErrorKind::Config, where + ": num_key_value_heads " + std::to_string(kv_heads) +
                                " must equal num_attention_heads " + std::to_string(c.num_attention_heads) + " for MLA");
  if (!j.contains("q_lora_rank") || j["q_lora_rank"].is_null())
    fail(ErrorKind::Config, where + ": q_lora_rank is null; glmq supports the low-rank query path GLM uses (q_lora_rank > 0)");
  c.q_lora_rank = get_positive(j, "q_lora_rank", where);
  c.kv_lora_rank = get_positive(j, "kv_lora_rank", where);
  c.qk_nope_head_dim = get_positive(j, "qk_nope_head_dim", where);
  c.qk_rope_head_dim = get_positive(j, "qk_rope_head_dim", where);
  c.v_head_dim = get_positive(j, "v_head_dim", where);
  if (c.qk_rope_head_dim % 2 != 0)
    fail(ErrorKind::Config, where + ": qk_rope_head_dim must be even, found " + std::to_string(c.qk_rope_head_dim));
  c.rms_norm_eps = get_double(j, "rms_norm_eps", where, 1e-6);
  c.max_position_embeddings = get_int(j, "max_position_embeddings", where, false, 4096);
  parse_rope(j, c, where);
  c.rope_interleave = get_bool(j, "rope_interleave", where, true);

  c.index_n_heads = get_positive(j, "index_n_heads", where);
  c.index_head_dim = get_positive(j, "index_head_dim", where);
  c.index_topk = get_positive(j, "index_topk", where);
  if (c.index_head_dim < c.qk_rope_head_dim)
    fail(ErrorKind::Config, where + ": index_head_dim " + std::to_string(c.index_head_dim) + " is smaller than qk_rope_head_dim " +
                                std::to_string(c.qk_rope_head_dim));
  // Builds name the indexer RoPE switch differently; "traditional" in MLX means interleaved pairs.
  c.indexer_rope_interleave = get_bool(j, "indexer_rope_interleave", where, get_bool(j, "indexer_rope_traditional", where, true));
  c.indexer_norm_eps = get_double(j, "indexer_norm_eps", where, 1e-6);

  c.layer_is_dense = parse_mlp_schedule(j, c.num_hidden_layers, where);
  c.layer_runs_indexer = derive_indexer_schedule(j, c.num_hidden_layers, where);

  if (c.num_experts_per_tok > c.n_routed_experts)
    fail(ErrorKind::Config, where + ": num_experts_per_tok " + std::to_string(c.num_experts_per_tok) + " exceeds n_routed_experts " +
                                std::to_string(c.n_routed_experts));
  if (c.n_group <= 0 || c.n_routed_experts % c.n_group != 0 || c.topk_group <= 0 || c.topk_group > c.n_group)
    fail(ErrorKind::Config, where + ": n_group " + std::to_string(c.n_group) + " / topk_group " + std::to_string(c.topk_group) +
                                " do not divide n_routed_experts " + std::to_string(c.n_routed_experts));
  if (c.n_group > 1 && c.n_routed_experts / c.n_group < 2)
    fail(ErrorKind::Config, where + ": group-limited routing needs at least 2 experts per group");
  if (c.topk_group * (c.n_routed_experts / c.n_group) < c.num_experts_per_tok)
    fail(ErrorKind::Config, where + ": topk_group groups hold fewer experts than num_experts_per_tok");

  std::string act = get_string(j, "hidden_act", where, "silu");
  if (act != "silu") fail(ErrorKind::Config, where + ": hidden_act '" + act + "' is not supported (expected 'silu')");
  if (get_bool(j, "attention_bias", where, false)) fail(ErrorKind::Config, where + ": attention_bias=true is not supported");
  std::string scoring = get_string(j, "scoring_func", where, "sigmoid");
  if (scoring != "sigmoid") fail(ErrorKind::Config, where + ": scoring_func '" + scoring + "' is not supported (expected 'sigmoid')");

  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", where, false);
  if (j.contains("eos_token_id")) {
    const Json& e = j["eos_token_id"];
    if (e.is_number_integer()) c.eos_token_ids.push_back(e.get<std::int64_t>());
    else if (e.is_array())
      for (const auto& v : e)
        if (v.is_number_integer()) c.eos_token_ids.push_back(v.get<std::int64_t>());
  }
  c.bos_token_id = j.contains("bos_token_id") && j["bos_token_id"].is_number_integer() ? j["bos_token_id"].get<std::int64_t>() : -1;
  return c;
}

GlmConfig GlmConfig::from_hf_dir(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  return from_hf_json(read_json_file(path), path);
}

double GlmConfig::rope_attention_factor() const {
  if (rope.type != "yarn") return 1.0;
  if (rope.attention_factor > 0) return rope.attention_factor;
  if (rope.mscale > 0 && rope.mscale_all_dim > 0) return yarn_mscale(rope.factor, rope.mscale) / yarn_mscale(rope.factor, rope.mscale_all_dim);
  return yarn_mscale(rope.factor, 1.0);
}

double GlmConfig::attention_scale() const {
  double s = 1.0 / std::sqrt(static_cast<double>(qk_head_dim()));
  // DeepSeek-style yarn: the softmax scale carries mscale(factor, mscale_all_dim)².
  if (rope.type == "yarn" && rope.mscale_all_dim > 0) {
    double m = yarn_mscale(rope.factor, rope.mscale_all_dim);
    s *= m * m;
  }
  return s;
}

std::vector<double> GlmConfig::rope_inv_freq() const {
  const std::int64_t dim = qk_rope_head_dim;
  std::vector<double> inv(static_cast<std::size_t>(dim / 2));
  // float32 arithmetic as in HF's rotary embedding, so the angles match the trained model's bit for bit.
  for (std::int64_t k = 0; k < dim / 2; ++k) {
    const float exponent = static_cast<float>(2 * k) / static_cast<float>(dim);
    const float power = static_cast<float>(std::pow(static_cast<double>(static_cast<float>(rope.theta)), static_cast<double>(exponent)));
    inv[static_cast<std::size_t>(k)] = static_cast<double>(1.0f / power);
  }
  if (rope.type != "yarn") return inv;
  // yarn: interpolate low frequencies by `factor`, keep high ones, ramp between the correction dims.
  const double base = rope.theta;
  const double orig = rope.original_max_position_embeddings > 0 ? rope.original_max_position_embeddings
                                                                : static_cast<double>(max_position_embeddings);
  auto correction_dim = [&](double rotations) {
    return (static_cast<double>(dim) * std::log(orig / (rotations * 2.0 * std::numbers::pi))) / (2.0 * std::log(base));
  };
  double low = correction_dim(rope.beta_fast);
  double high = correction_dim(rope.beta_slow);
  if (rope.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;
  for (std::int64_t k = 0; k < dim / 2; ++k) {
    double ramp = std::clamp((static_cast<double>(k) - low) / (high - low), 0.0, 1.0);
    double extrapolation_weight = 1.0 - ramp;
    double extrap = inv[static_cast<std::size_t>(k)];
    double interp = extrap / rope.factor;
    inv[static_cast<std::size_t>(k)] = interp * (1.0 - extrapolation_weight) + extrap * extrapolation_weight;
  }
  return inv;
}

std::int64_t GlmConfig::num_full_indexer_layers() const {
  std::int64_t n = 0;
  for (bool f : layer_runs_indexer) n += f ? 1 : 0;
  return n;
}

}  // namespace glmq
