// glmq quantize: make a quantized build from an HF checkpoint — MLX layout following a recipe, or a glm-dsa GGUF as
// llama.cpp's converter + llama-quantize would make it.
#include <cctype>
#include <cstdio>
#include <memory>
#include <optional>

#include "apps/glmq/cli_common.h"
#include "apps/glmq/commands.h"
#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "eval/corpus.h"
#include "eval/jsonl_file.h"
#include "formats/gguf_split.h"
#include "model/config.h"
#include "model/gguf_model_writer.h"
#include "model/mlx_writer.h"
#include "quant/importance_matrix.h"
#include "quant/input_covariance.h"
#include "runtime/importance_run.h"

namespace glmq::cli {

namespace {
struct QuantizeOptions {
  std::string model, out, format = "mlx", recipe = "mixed-3.5";
  double max_shard_gb = 5.0;
  // GGUF
  std::string type = "IQ4_NL", imatrix, split_max_size, covariance, calibration;
  std::int64_t calibration_chunks = 64;
  std::vector<std::string> tensor_types;
  bool strict = false, dry_run = false, compatible = false;
  double damp = 0.1;
  int threads = 0;
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

void print_gguf_summary(const GgufQuantizePlan& plan, bool dry_run) {
  if (dry_run)
    for (const auto& t : plan.tensors) {
      std::string ne;
      for (auto d : t.ne) ne += (ne.empty() ? "" : ", ") + std::to_string(d);
      std::printf("%-40s [%s] %s%s%s%s  shard %d\n", t.name.c_str(), ne.c_str(), std::string(weight_type_name(t.choice.type)).c_str(),
                  t.choice.fell_back ? " (fallback)" : "", t.imatrix_used ? " imatrix" : "",
                  t.error_feedback ? " error-feedback" : "", t.shard + 1);
    }
  std::printf("%-8s %8s %14s %14s %8s\n", "type", "tensors", "parameters", "bytes", "bits/w");
  for (const auto& t : plan.by_type)
    std::printf("%-8s %8d %14lld %14llu %8.4f\n", t.type.c_str(), t.tensors, static_cast<long long>(t.params),
                static_cast<unsigned long long>(t.bytes),
                t.params ? 8.0 * static_cast<double>(t.bytes) / static_cast<double>(t.params) : 0.0);
  std::printf("%-8s %8zu %14lld %14llu %8.4f  %zu file(s), %.2f MB%s\n", "total", plan.tensors.size(),
              static_cast<long long>(plan.total_params), static_cast<unsigned long long>(plan.total_bytes), plan.bits_per_weight(),
              plan.files.size(), static_cast<double>(plan.total_bytes) / 1e6, plan.files.size() > 1 ? " (first: metadata only)" : "");
  for (const auto& f : plan.fallbacks) std::printf("fallback %s\n", f.c_str());
  if (!dry_run)
    std::printf("wrote %s%s%s\n", plan.files.front().c_str(), plan.files.size() > 1 ? " ... " : "",
                plan.files.size() > 1 ? plan.files.back().c_str() : "");
}

void run_gguf(const QuantizeOptions& o) {
  GgufQuantizeOptions g;
  std::string upper = o.type;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  const auto type = weight_type_from_name(upper);
  if (!type || !(is_float_type(*type) || is_ggml_block(*type)))
    fail(ErrorKind::InvalidArgument, "--type '" + o.type + "' is not a GGML type (e.g. IQ4_NL, Q4_K, Q6_K, Q8_0, IQ2_S) or F32/F16/BF16");
  g.default_type = *type;
  g.rules = Recipe::from_tensor_types(o.tensor_types);
  std::optional<ImportanceMatrix> imatrix;
  if (!o.imatrix.empty()) {
    imatrix = read_importance_matrix(o.imatrix);
    g.imatrix = &*imatrix;
    g.imatrix_path = o.imatrix;
  }
  std::optional<InputCovariance> covariance;
  if (o.compatible && (!o.covariance.empty() || !o.calibration.empty()))
    fail(ErrorKind::InvalidArgument,
         "--compatible reproduces llama-quantize bit for bit, which error feedback (--covariance, --calibration) does not");
  if (!o.covariance.empty() && !o.calibration.empty())
    fail(ErrorKind::InvalidArgument, "--covariance and --calibration both give the covariance; pass one");
  if (!o.covariance.empty()) {
    covariance = read_input_covariance(o.covariance);
    g.covariance_path = o.covariance;
  } else if (!o.calibration.empty()) {
    // The same statistics glmq imatrix --covariance collects, from the model being quantized, kept in memory.
    auto model = load_model(o.model);
    const std::vector<std::int32_t> tokens = eval::tokenize_whole(load_tokenizer(o.model), eval::read_text_file(o.calibration));
    CpuBackend backend(o.threads);
    ImportanceRunOptions run_options;
    run_options.max_chunks = o.calibration_chunks;
    run_options.collect_covariance = true;
    covariance = run_importance_matrix(model->weights, backend, tokens, run_options).covariance;
    g.covariance_path = "calibration:" + o.calibration;
  } else if (!o.compatible && o.calibration.empty()) {
    std::fprintf(stderr, "note: no --covariance or --calibration: the codes are llama-quantize's (as with --compatible); "
                         "error-feedback rounding needs the inputs' covariance\n");
  }
  if (covariance) g.covariance = &*covariance;
  g.damp = o.damp;
  if (!o.split_max_size.empty()) g.split_max_bytes = parse_gguf_split_size(o.split_max_size);
  g.strict = o.strict;
  g.threads = o.threads;
  print_gguf_summary(o.dry_run ? plan_gguf_quantization(o.model, o.out, g) : write_glm_dsa_gguf(o.model, o.out, g), o.dry_run);
}

void run_quantize(const QuantizeOptions& o) {
  if (o.format == "gguf") return run_gguf(o);
  if (o.format != "mlx") fail(ErrorKind::InvalidArgument, "--format '" + o.format + "' is not supported (expected 'mlx' or 'gguf')");
  if (!o.tensor_types.empty() || !o.imatrix.empty() || !o.split_max_size.empty() || o.strict || o.dry_run || o.compatible ||
      !o.covariance.empty() || !o.calibration.empty())
    fail(ErrorKind::InvalidArgument, "--tensor-type, --imatrix, --covariance, --calibration, --compatible, --split-max-size, "
                                     "--strict and --dry-run apply to --format gguf");
  if (!(o.max_shard_gb > 0)) fail(ErrorKind::InvalidArgument, "--max-shard-size must be positive");
  const GlmConfig config = GlmConfig::from_hf_dir(o.model);
  const Recipe recipe = Recipe::load(o.recipe, config.num_hidden_layers);
  MlxWriteOptions options;
  options.max_shard_bytes = static_cast<std::uint64_t>(o.max_shard_gb * 1e9);
  print_summary(write_mlx_checkpoint(o.model, o.out, recipe, options), recipe.name());
}
}  // namespace

void add_quantize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize", "Quantize an HF checkpoint into an MLX-layout build (recipe) or a glm-dsa GGUF");
  auto o = std::make_shared<QuantizeOptions>();
  cmd->add_option("--model", o->model, "HF checkpoint directory (F32/F16/BF16)")->required();
  cmd->add_option("--out", o->out, "Output directory (mlx) or .gguf file (gguf; split shards are named <out>-0000N-of-0000M.gguf)")
      ->required();
  cmd->add_option("--format", o->format, "Output format: mlx (default) or gguf");
  cmd->add_option("--recipe", o->recipe,
                  "mlx: preset (mixed-3.5, uniform-{2,3,4,5,6,8}, mixed_2_6, mixed_3_6) or a rule file of 'pattern = target' lines");
  cmd->add_option("--max-shard-size", o->max_shard_gb, "mlx: largest shard in GB (default 5)");
  cmd->add_option("--type", o->type, "gguf: type of every quantizable tensor no --tensor-type matches (default IQ4_NL)");
  cmd->add_option("--tensor-type", o->tensor_types,
                  "gguf: REGEX=TYPE, repeatable, first match wins (llama-quantize's --tensor-type), e.g. 'ffn_(gate|up|down)_exps=iq2_s'");
  cmd->add_option("--imatrix", o->imatrix, "gguf: importance matrix (glmq imatrix or llama-imatrix output); IQ2_S and IQ2_XXS need one");
  cmd->add_option("--covariance", o->covariance,
                  "gguf: input covariance (glmq imatrix --covariance FILE): choose the codes with error feedback (GPTQ-style: "
                  "each block's rounding error is compensated by the columns after it, minimising the product's output error "
                  "on the calibration text). Same types, sizes and block formats (llama.cpp loads the file); Q8_0, IQ2_XXS, IQ3_S "
                  "and tensors without an entry are rounded as llama-quantize does; token_embd (a lookup, no input) is "
                  "weighed by what reads it first, blk.0's projections of the normed residual");
  cmd->add_option("--calibration", o->calibration,
                  "gguf: text file to compute the covariance from in this run (as glmq imatrix --covariance does, chunks "
                  "of 512 tokens through the model being quantized), instead of --covariance; never the text you evaluate on");
  cmd->add_option("--calibration-chunks", o->calibration_chunks, "gguf: chunks of 512 tokens of --calibration to use (default 64)");
  cmd->add_option("--damp", o->damp,
                  "gguf: error-feedback dampening added to the covariance's diagonal, as a fraction of its mean (default 0.1; "
                  "more trusts the calibration text less)");
  cmd->add_flag("--compatible", o->compatible,
                "gguf: reproduce llama-quantize bit for bit (same imatrix, same bytes); refuses --covariance");
  cmd->add_option("--split-max-size", o->split_max_size,
                  "gguf: split into shards of at most N M/G bytes of tensors (e.g. 30G), the first holding only metadata");
  cmd->add_flag("--strict", o->strict, "gguf: refuse instead of falling back where a type's blocks do not divide a tensor's rows");
  cmd->add_flag("--dry-run", o->dry_run, "gguf: print every tensor's type and the size table without writing");
  cmd->add_option("--threads", o->threads, "gguf: quantization threads (default: all cores)");
  cmd->callback([o] { run_quantize(*o); });
}

}  // namespace glmq::cli
