// glmq plan: will this model fit? Weight bytes by component, latent and indexer cache bytes at a context,
// workspace, total and headroom against a memory budget.
#include <cstdio>
#include <filesystem>

#include "apps/glmq/cli_common.h"
#include "apps/glmq/commands.h"
#include "core/error.h"
#include "core/json_file.h"
#include "core/progress.h"
#include "model/memory_plan.h"

namespace glmq::cli {

namespace {
namespace fs = std::filesystem;

struct PlanOptions {
  std::string model, context = "4096", memory, recipe = "mixed-3.5";
  KvCacheOptions kv{.kv_bits = 16};
  std::int64_t prefill_chunk = 512;
  int threads = 1;
};

// "1M" = 1,048,576 tokens, "128K" = 131,072; plain numbers as they are.
std::int64_t parse_tokens(const std::string& s) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (...) {
    fail(ErrorKind::InvalidArgument, "--ctx: '" + s + "' is not a token count (e.g. 4096, 128K, 1M)");
  }
  const std::string unit = s.substr(used);
  if (unit == "K" || unit == "k") v *= 1024;
  else if (unit == "M" || unit == "m") v *= 1048576;
  else if (!unit.empty()) fail(ErrorKind::InvalidArgument, "--ctx: unknown unit '" + unit + "' (K or M)");
  if (v <= 0) fail(ErrorKind::InvalidArgument, "--ctx must be positive");
  return v;
}

// "512G"/"512GB" = 512·10⁹ bytes, "64GiB" = 64·2³⁰.
double parse_bytes(const std::string& s) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (...) {
    fail(ErrorKind::InvalidArgument, "--memory: '" + s + "' is not a size (e.g. 512G, 64GiB)");
  }
  const std::string unit = s.substr(used);
  if (unit == "G" || unit == "GB") return v * 1e9;
  if (unit == "GiB") return v * 1073741824.0;
  if (unit == "T" || unit == "TB") return v * 1e12;
  if (unit == "M" || unit == "MB") return v * 1e6;
  if (unit.empty()) return v;
  fail(ErrorKind::InvalidArgument, "--memory: unknown unit '" + unit + "' (MB, GB, GiB, TB)");
}

void print_lines(const std::vector<PlanLine>& lines) {
  for (const auto& l : lines) {
    if (l.params)
      std::printf("  %-20s %16lld params %10.2f GB %6.2f bits/w  %s\n", l.item.c_str(), static_cast<long long>(l.params),
                  l.bytes / 1e9, 8.0 * l.bytes / static_cast<double>(l.params), l.detail.c_str());
    else
      std::printf("  %-20s %34.2f GB  %s\n", l.item.c_str(), l.bytes / 1e9, l.detail.c_str());
  }
}

void run_plan(const PlanOptions& o) {
  PlanRequest req;
  req.context = parse_tokens(o.context);
  req.kv = o.kv;
  req.kv.validate();
  req.prefill_chunk = o.prefill_chunk;
  req.threads = o.threads;
  set_quiet(true);
  MemoryPlan plan;
  std::string source;
  const fs::path p(o.model);
  const bool has_weights = fs::is_directory(p) && (fs::exists(p / "model.safetensors") || fs::exists(p / "model.safetensors.index.json"));
  if (has_weights || p.extension() == ".gguf") {
    auto model = load_model(o.model);
    plan = plan_memory(model->weights, req);
    source = "weights of " + o.model;
  } else {
    const std::string config_path = fs::is_directory(p) ? (p / "config.json").string() : o.model;
    const GlmConfig c = GlmConfig::from_hf_json(read_json_file(config_path), config_path);
    const Recipe recipe = Recipe::load(o.recipe, c.num_hidden_layers);
    plan = plan_memory(c, recipe, req);
    source = config_path + " with recipe " + recipe.name();
  }
  std::printf("plan for %s at %lld tokens, KV cache %s\n", source.c_str(), static_cast<long long>(req.context),
              req.kv.describe().c_str());
  std::printf("weights:\n");
  print_lines(plan.weights);
  std::int64_t params = 0;
  for (const auto& l : plan.weights) params += l.params;
  std::printf("  %-20s %16lld params %10.2f GB %6.2f bits/w\n", "weights total", static_cast<long long>(params),
              plan.weight_bytes / 1e9, 8.0 * plan.weight_bytes / static_cast<double>(params));
  std::printf("runtime:\n");
  print_lines(plan.runtime);
  std::printf("total: %.2f GB (%.2f GiB)", plan.total() / 1e9, plan.total() / 1073741824.0);
  if (!o.memory.empty()) {
    const double budget = parse_bytes(o.memory);
    const double free = budget - plan.total();
    std::printf(" | budget %.0f GB: %s %.2f GB", budget / 1e9, free >= 0 ? "headroom" : "OVER by", std::abs(free) / 1e9);
  }
  std::printf("\n");
}
}  // namespace

void add_plan_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("plan", "Memory needed by a model at a context: weights by component, KV caches, workspace");
  auto o = std::make_shared<PlanOptions>();
  cmd->add_option("--model", o->model, "A model directory/GGUF (its real tensor types) or a config.json (with --recipe)")->required();
  cmd->add_option("--ctx", o->context, "Context in tokens (e.g. 4096, 128K, 1M)");
  cmd->add_option("--memory", o->memory, "Memory budget (e.g. 512G, 192GiB) for the headroom line");
  cmd->add_option("--recipe", o->recipe, "For a config alone: the quantization recipe to assume (default mixed-3.5)");
  cmd->add_option("--prefill-chunk", o->prefill_chunk, "Prefill chunk in tokens (workspace)");
  cmd->add_option("--threads", o->threads, "Threads (per-thread indexer score rows)");
  add_kv_cache_options(cmd, o->kv);
  cmd->callback([o] { run_plan(*o); });
}

}  // namespace glmq::cli
