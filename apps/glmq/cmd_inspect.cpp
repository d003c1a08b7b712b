// glmq inspect: config summary, layer schedule and tensor bytes by type.
#include <cstdio>
#include <map>

#include "apps/glmq/cli_common.h"
#include "apps/glmq/commands.h"
#include "core/progress.h"
#include "formats/ggml_types.h"

namespace glmq::cli {

namespace {

void print_inspect(const Model& model) {
  const Weights& w = model.weights;
  const GlmConfig& c = w.config;
  std::printf("model: %s\n", model.gguf ? model.gguf->path().c_str() : model.store->location().c_str());
  std::printf("architecture: glm_moe_dsa, %lld layers (+%lld MTP %s), hidden %lld, vocab %lld\n",
              static_cast<long long>(c.num_hidden_layers), static_cast<long long>(c.num_nextn_predict_layers),
              w.mtp ? "loaded" : "absent", static_cast<long long>(c.hidden_size), static_cast<long long>(c.vocab_size));
  std::printf("attention: MLA %lld heads, q_lora %lld, kv_lora %lld, qk %lld+%lld, v %lld, rope theta %g (%s, %s)\n",
              static_cast<long long>(c.num_attention_heads), static_cast<long long>(c.q_lora_rank),
              static_cast<long long>(c.kv_lora_rank), static_cast<long long>(c.qk_nope_head_dim),
              static_cast<long long>(c.qk_rope_head_dim), static_cast<long long>(c.v_head_dim), c.rope.theta,
              c.rope.type.c_str(), c.rope_interleave ? "interleaved" : "half-split");
  std::printf("indexer: %lld heads × %lld, top-%lld, rope %s, %lld of %lld layers full\n",
              static_cast<long long>(c.index_n_heads), static_cast<long long>(c.index_head_dim),
              static_cast<long long>(c.index_topk), c.indexer_rope_interleave ? "interleaved" : "half-split",
              static_cast<long long>(c.num_full_indexer_layers()), static_cast<long long>(c.num_hidden_layers));
  std::printf("moe: %lld experts, %lld active + %lld shared, width %lld, groups %lld/%lld, norm %s, scale %g\n",
              static_cast<long long>(c.n_routed_experts), static_cast<long long>(c.num_experts_per_tok),
              static_cast<long long>(c.n_shared_experts), static_cast<long long>(c.moe_intermediate_size),
              static_cast<long long>(c.topk_group), static_cast<long long>(c.n_group), c.norm_topk_prob ? "yes" : "no",
              c.routed_scaling_factor);
  std::printf("layers:\n");
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    auto i = static_cast<std::size_t>(l);
    std::printf("  %3lld  %-5s  indexer %s\n", static_cast<long long>(l), c.layer_is_dense[i] ? "dense" : "moe",
                c.layer_runs_indexer[i] ? "full" : "shared");
  }
  // Bit allocation per component, as model cards tabulate a recipe.
  struct Component {
    std::int64_t params = 0;
    std::size_t bytes = 0;
    std::map<std::string, std::int64_t> types;  // storage type → parameters
  };
  std::map<std::string, Component> components;
  auto component_of = [](const std::string& role) -> std::string {
    if (role.rfind("mtp.", 0) == 0) return "MTP layer";
    if (role == "embed") return "embedding";
    if (role == "lm_head") return "LM head";
    if (role.find(".indexer.") != std::string::npos) return "indexer";
    if (role.find(".attn.") != std::string::npos) return "attention";
    if (role.find(".experts.") != std::string::npos) return "routed experts";
    if (role.find(".shared_expert.") != std::string::npos) return "shared experts";
    if (role.find(".router") != std::string::npos) return "router";
    if (role.find(".dense.") != std::string::npos) return "dense MLP";
    return "other";
  };
  const std::uint8_t* embed_data = w.embed.data;
  w.for_each_matrix([&](const std::string& role, const WeightMatrix& m) {
    if (role == "lm_head" && m.data == embed_data) return;
    auto& comp = components[component_of(role)];
    comp.params += m.rows * m.cols;
    comp.bytes += m.bytes();
    std::string type(weight_type_name(m.type));
    if (m.group_size) type += " g" + std::to_string(m.group_size);
    comp.types[type] += m.rows * m.cols;
  });
  std::printf("bit allocation:\n  %-16s %14s %12s %7s  %s\n", "component", "parameters", "bytes", "bits/w", "types");
  std::int64_t all_params = 0;
  std::size_t all_bytes = 0;
  for (const auto& [name, comp] : components) {
    std::string types;
    for (const auto& [t, n] : comp.types) {
      if (!types.empty()) types.append(", ");
      types.append(t);
    }
    std::printf("  %-16s %14lld %12zu %7.3f  %s\n", name.c_str(), static_cast<long long>(comp.params), comp.bytes,
                8.0 * static_cast<double>(comp.bytes) / static_cast<double>(comp.params), types.c_str());
    all_params += comp.params;
    all_bytes += comp.bytes;
  }
  std::printf("  %-16s %14lld %12zu %7.3f\n", "total", static_cast<long long>(all_params), all_bytes,
              8.0 * static_cast<double>(all_bytes) / static_cast<double>(all_params));

  std::map<std::string, std::pair<std::size_t, std::size_t>> by_type;  // dtype → (count, bytes)
  if (model.gguf) {
    // A GGUF model has no TensorStore: its tensor infos (all shards) give the stored GGML type and size.
    for (const auto& file : model.gguf->files())
      for (const GgufTensor& t : file->tensors()) {
        auto& e = by_type[ggml_type_name(t.ggml_type)];
        e.first += 1;
        e.second += t.nbytes;
      }
  } else {
    for (const auto& name : model.store->names()) {
      const TensorSource* t = model.store->find(name);
      auto& e = by_type[file_dtype_name(t->dtype)];
      e.first += 1;
      e.second += t->nbytes;
    }
  }
  std::printf("tensors by file dtype:\n");
  std::size_t total = 0, count = 0;
  for (const auto& [type, e] : by_type) {
    std::printf("  %-8s %6zu tensors %12zu bytes\n", type.c_str(), e.first, e.second);
    total += e.second;
    count += e.first;
  }
  std::printf("  %-8s %6zu tensors %12zu bytes\n", "total", count, total);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Print a model's config summary, layer schedule and tensor bytes by type");
  auto model_path = std::make_shared<std::string>();
  cmd->add_option("--model", *model_path, "Model directory (HF/MLX layout) or .gguf file")->required();
  cmd->callback([model_path] {
    set_quiet(true);
    auto model = load_model(*model_path);
    print_inspect(*model);
  });
}

}  // namespace glmq::cli
