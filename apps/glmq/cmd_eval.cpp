// glmq eval: zero-shot HellaSwag / PIQA / WinoGrande scored as lm-evaluation-harness scores them.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "apps/glmq/cli_common.h"
#include "apps/glmq/commands.h"
#include "apps/glmq/backend_option.h"
#include "core/error.h"
#include "core/json_file.h"
#include "eval/loglikelihood_scorer.h"
#include "eval/task_data.h"
#include "eval/task_runner.h"
#include "runtime/session.h"

namespace glmq::cli {

namespace {
struct EvalOptions {
  std::string model, tasks = "hellaswag,piqa,winogrande", data_dir = "../shared/data", log_samples;
  std::int64_t limit = 0;
  std::int64_t context = 4096;
  BackendOptions compute;
  KvCacheOptions kv{.kv_bits = 16};
};

std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> names;
  std::stringstream ss(list);
  for (std::string name; std::getline(ss, name, ',');)
    if (!name.empty()) names.push_back(name);
  if (names.empty()) fail(ErrorKind::InvalidArgument, "--tasks: no task named (known: hellaswag, piqa, winogrande)");
  return names;
}

// One JSON line per request: what was scored and its result, for comparing with other implementations.
void log_doc(std::ofstream& out, const std::string& task, std::size_t index, const eval::MultipleChoiceDoc& doc,
             const std::vector<eval::RequestScore>& scores, const eval::DocOutcome& outcome) {
  for (std::size_t i = 0; i < scores.size(); ++i) {
    Json line = {{"task", task},
                 {"doc", index},
                 {"source", doc.source},
                 {"choice", i},
                 {"gold", doc.gold},
                 {"context", doc.requests[i].context},
                 {"continuation", doc.requests[i].continuation},
                 {"context_tokens", scores[i].tokens.context},
                 {"continuation_tokens", scores[i].tokens.continuation},
                 {"loglikelihood", scores[i].loglikelihood},
                 {"is_greedy", scores[i].is_greedy},
                 {"predicted", outcome.predicted},
                 {"predicted_norm", outcome.predicted_norm}};
    out << line.dump() << "\n";
  }
}

void run_eval(const EvalOptions& o) {
  const auto names = split_names(o.tasks);
  std::vector<eval::MultipleChoiceTask> tasks;
  for (const auto& name : names) tasks.push_back(eval::load_task(name, o.data_dir, o.limit));
  auto model = load_model(o.model);
  const Tokenizer tokenizer = load_tokenizer(o.model);
  const std::unique_ptr<Backend> compute_backend = make_backend(o.compute);
  Backend& backend = *compute_backend;
  Session session(model->weights, backend,
                  std::min<std::int64_t>(o.context, model->weights.config.max_position_embeddings), o.kv);
  eval::LoglikelihoodScorer scorer(session, tokenizer);
  std::ofstream samples;
  if (!o.log_samples.empty()) {
    samples.open(o.log_samples, std::ios::trunc);
    if (!samples) fail(ErrorKind::Io, o.log_samples + ": cannot create");
  }
  std::printf("| task | docs | acc | acc_norm | tokens/s |\n|---|---|---|---|---|\n");
  for (const auto& task : tasks) {
    eval::DocVisitor visit;
    if (samples.is_open())
      visit = [&](std::size_t i, const eval::MultipleChoiceDoc& doc, const std::vector<eval::RequestScore>& s,
                  const eval::DocOutcome& out) { log_doc(samples, task.name, i, doc, s, out); };
    const auto r = eval::run_task(scorer, task, visit);
    char norm[64] = "—";
    if (task.reports_acc_norm) std::snprintf(norm, sizeof norm, "%.4f ± %.4f", r.acc_norm.mean, r.acc_norm.stderr_);
    std::printf("| %s | %lld | %.4f ± %.4f | %s | %.0f |\n", task.name.c_str(), static_cast<long long>(r.docs),
                r.acc.mean, r.acc.stderr_, norm, r.seconds > 0 ? static_cast<double>(r.tokens_fed) / r.seconds : 0.0);
    std::fflush(stdout);
  }
  if (samples.is_open() && !samples.flush()) fail(ErrorKind::Io, o.log_samples + ": write failed");
}
}  // namespace

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "eval", "Zero-shot multiple-choice accuracy (HellaSwag, PIQA, WinoGrande) as lm-eval scores it");
  auto o = std::make_shared<EvalOptions>();
  cmd->add_option("--model", o->model, "Model directory (HF layout, with tokenizer.json) or .gguf file")->required();
  cmd->add_option("--tasks", o->tasks, "Comma-separated tasks (default hellaswag,piqa,winogrande)");
  cmd->add_option("--limit", o->limit, "Score only the first N documents of each task (default: all)");
  cmd->add_option("--data-dir", o->data_dir, "The shared data folder (default ../shared/data)");
  cmd->add_option("--log-samples", o->log_samples,
                  "Write each request's context, tokens and log-likelihood to FILE (jsonl)");
  cmd->add_option("--ctx", o->context, "Session context length (default 4096)");
  add_backend_options(cmd, o->compute);
  add_kv_cache_options(cmd, o->kv);
  cmd->callback([o] { run_eval(*o); });
}

}  // namespace glmq::cli
