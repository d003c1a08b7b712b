// glmq imatrix: the importance matrix of a model over a text, as llama-imatrix computes it, written in its GGUF
// format for `glmq quantize --imatrix` (and llama-quantize).
#include <cstdio>
#include <memory>

#include "apps/glmq/cli_common.h"
#include "apps/glmq/commands.h"
#include "backend/cpu/cpu_backend.h"
#include "eval/corpus.h"
#include "eval/jsonl_file.h"
#include "quant/importance_matrix.h"
#include "quant/input_covariance.h"
#include "runtime/importance_run.h"

namespace glmq::cli {

namespace {
struct ImatrixOptions {
  std::string model, data, out, covariance;
  ImportanceRunOptions run;
  int threads = 0;
};

void run_imatrix(const ImatrixOptions& o) {
  auto model = load_model(o.model);
  const Tokenizer tokenizer = load_tokenizer(o.model);
  const std::vector<std::int32_t> tokens = eval::tokenize_whole(tokenizer, eval::read_text_file(o.data));
  CpuBackend backend(o.threads);
  ImportanceRunOptions run_options = o.run;
  run_options.collect_covariance = !o.covariance.empty();
  ImportanceRun run = run_importance_matrix(model->weights, backend, tokens, run_options);
  run.matrix.datasets = {o.data};
  write_importance_matrix(o.out, run.matrix);
  if (run_options.collect_covariance) {
    run.covariance.datasets = {o.data};
    write_input_covariance(o.covariance, run.covariance);
    std::printf("covariance (sum of x^T x per weight input) -> %s\n", o.covariance.c_str());
  }
  std::printf("imatrix %s | %zu tokens, %lld chunks of %lld | %zu tensors -> %s | %.1f s, %.1f tokens/s, %d threads\n",
              o.data.c_str(), tokens.size(), static_cast<long long>(run.matrix.chunk_count),
              static_cast<long long>(run.matrix.chunk_size), run.matrix.entries.size(), o.out.c_str(), run.seconds,
              run.seconds > 0 ? static_cast<double>(run.tokens) / run.seconds : 0.0, backend.threads());
}
}  // namespace

void add_imatrix_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("imatrix", "Importance matrix of a model over a text (llama-imatrix's statistics, GGUF file)");
  auto o = std::make_shared<ImatrixOptions>();
  cmd->add_option("--model", o->model, "Model directory (HF layout, with tokenizer.json) or .gguf file")->required();
  cmd->add_option("--data", o->data, "Text file, tokenized whole")->required();
  cmd->add_option("--out", o->out, "Output imatrix file (GGUF, as llama-imatrix writes)")->required();
  cmd->add_option("--ctx", o->run.context, "Tokens per chunk (default 512)");
  cmd->add_option("--chunks", o->run.max_chunks, "Use at most this many chunks (default: all)");
  cmd->add_option("--covariance", o->covariance,
                  "Also write each weight's input covariance (sum of x^T x, per expert/head; glmq's own GGUF file) for "
                  "error-feedback quantization: glmq quantize --format gguf --covariance FILE");
  cmd->add_option("--threads", o->threads, "CPU threads (default: all cores)");
  cmd->callback([o] { run_imatrix(*o); });
}

}  // namespace glmq::cli
