// glmq quantize: make an MLX-layout quantized build from an HF checkpoint, following a recipe.
#include <cstdio>

#include "apps/glmq/commands.h"
#include "core/error.h"
#include "model/config.h"
#include "model/mlx_writer.h"

namespace glmq::cli {

namespace {
struct QuantizeOptions {
  std::string model, out, format = "mlx", recipe = "mixed-3.5";
  double max_shard_gb = 5.0;
};

void print_summary(const QuantizeSummary& s, const std::string& recipe) {
  std::printf("recipe %s\n", recipe.c_str());
  std::printf("%-18s %14s %14s %7s  %s\n", "component", "parameters", "bytes", "bits/w", "types");
  for (const auto& c : s.components) {
    const double bpw = c.params ? 8.0 * static_cast<double>(c.bytes) / static_cast<double>(c.params) : 0.0;
    std::printf("%-18s %14lld %14llu %7.3f  %s\n", c.component.c_str(), static_cast<long long>(c.params),
                static_cast<unsigned long long>(c.bytes), bpw, c.types.c_str());
  }
  std::printf("%-18s %14lld %14llu %7.3f  %d shard(s), %.2f MB\n", "total", static_cast<long long>(s.total_params),
              static_cast<unsigned long long>(s.total_bytes), s.bits_per_weight(), s.shards,
              static_cast<double>(s.total_bytes) / 1e6);
}

void run_quantize(const QuantizeOptions& o) {
  if (o.format != "mlx") fail(ErrorKind::InvalidArgument, "--format '" + o.format + "' is not supported (expected 'mlx')");
  if (!(o.max_shard_gb > 0)) fail(ErrorKind::InvalidArgument, "--max-shard-size must be positive");
  const GlmConfig config = GlmConfig::from_hf_dir(o.model);
  const Recipe recipe = Recipe::load(o.recipe, config.num_hidden_layers);
  MlxWriteOptions options;
  options.max_shard_bytes = static_cast<std::uint64_t>(o.max_shard_gb * 1e9);
  print_summary(write_mlx_checkpoint(o.model, o.out, recipe, options), recipe.name());
}
}  // namespace

void add_quantize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize", "Quantize an HF checkpoint into an MLX-layout build, following a recipe");
  auto o = std::make_shared<QuantizeOptions>();
  cmd->add_option("--model", o->model, "HF checkpoint directory (F32/F16/BF16)")->required();
  cmd->add_option("--out", o->out, "Output directory")->required();
  cmd->add_option("--format", o->format, "Output format (mlx)");
  cmd->add_option("--recipe", o->recipe,
                  "Preset (mixed-3.5, uniform-{2,3,4,5,6,8}, mixed_2_6, mixed_3_6) or a rule file of 'pattern = target' lines");
  cmd->add_option("--max-shard-size", o->max_shard_gb, "Largest shard in GB (default 5)");
  cmd->callback([o] { run_quantize(*o); });
}

}  // namespace glmq::cli
