// glmq bench: prompt-processing and generation speed, time to first token, peak memory.
#include <cstdio>
#include <memory>

#include "apps/glmq/cli_common.h"
#include "apps/glmq/commands.h"
#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "core/json_file.h"
#include "eval/speed_bench.h"
#include "runtime/session.h"

namespace glmq::cli {

namespace {
struct BenchOptions {
  std::string model, prompt_lengths = "128,512";
  std::int64_t generate = 64;
  int repetitions = 1;
  int threads = 0;
  KvCacheOptions kv{.kv_bits = 16};
  bool json = false;
};

void run_bench(const BenchOptions& o) {
  std::vector<std::int64_t> lengths;
  for (auto id : parse_token_list(o.prompt_lengths, "--prompt-lengths")) {
    if (id < 1) fail(ErrorKind::InvalidArgument, "--prompt-lengths: lengths must be positive");
    lengths.push_back(id);
  }
  if (o.repetitions < 1) fail(ErrorKind::InvalidArgument, "--repetitions must be at least 1");
  auto model = load_model(o.model);
  const GlmConfig& c = model->weights.config;
  std::int64_t context = 0;
  for (auto n : lengths) context = std::max(context, n + o.generate);
  CpuBackend backend(o.threads);
  Session session(model->weights, backend, context, o.kv);
  // One untimed pass warms caches, page-ins of the mapped weights and the thread pool.
  eval::measure_speed(session, c.vocab_size, std::min<std::int64_t>(lengths.front(), 16),
                      std::min<std::int64_t>(o.generate, 4));

  Json results = Json::array();
  if (!o.json)
    std::printf(
        "| prompt | generated | prompt tokens/s | generation tokens/s | time to first token (ms) "
        "|\n|---|---|---|---|---|\n");
  for (auto n : lengths) {
    eval::SpeedResult best;  // fastest of the repetitions, per measure
    for (int rep = 0; rep < o.repetitions; ++rep) {
      const auto r = eval::measure_speed(session, c.vocab_size, n, o.generate);
      if (rep == 0 || r.prefill_seconds < best.prefill_seconds) {
        best.prompt_tokens = r.prompt_tokens;
        best.prefill_seconds = r.prefill_seconds;
        best.first_token_seconds = r.first_token_seconds;
      }
      if (rep == 0 || r.decode_seconds < best.decode_seconds) {
        best.generated_tokens = r.generated_tokens;
        best.decode_seconds = r.decode_seconds;
      }
    }
    results.push_back({{"prompt_tokens", n},
                       {"generated_tokens", best.generated_tokens},
                       {"prompt_tokens_per_second", best.prompt_tokens_per_second()},
                       {"generation_tokens_per_second", best.generation_tokens_per_second()},
                       {"time_to_first_token_ms", 1000 * best.first_token_seconds}});
    if (!o.json)
      std::printf("| %lld | %lld | %.1f | %.1f | %.1f |\n", static_cast<long long>(n),
                  static_cast<long long>(best.generated_tokens), best.prompt_tokens_per_second(),
                  best.generation_tokens_per_second(), 1000 * best.first_token_seconds);
  }
  const double peak_mib = static_cast<double>(eval::peak_rss_bytes()) / (1024.0 * 1024.0);
  if (o.json) {
    Json doc = {{"model", o.model},
                {"backend", backend.name()},
                {"threads", backend.threads()},
                {"batch", 1},
                {"repetitions", o.repetitions},
                {"weight_bytes", model->weights.total_bytes()},
                {"peak_rss_bytes", eval::peak_rss_bytes()},
                {"results", results}};
    std::printf("%s\n", doc.dump(2).c_str());
  } else {
    std::printf("backend %s, %d threads, batch 1, best of %d | weights %.1f MiB | peak RSS %.1f MiB\n",
                backend.name().c_str(), backend.threads(), o.repetitions,
                static_cast<double>(model->weights.total_bytes()) / (1024.0 * 1024.0), peak_mib);
  }
}
}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Prompt and generation tokens/s, time to first token, peak memory");
  auto o = std::make_shared<BenchOptions>();
  cmd->add_option("--model", o->model, "Model directory (HF layout) or .gguf file")->required();
  cmd->add_option("--prompt-lengths", o->prompt_lengths, "Comma-separated prompt lengths in tokens (default 128,512)");
  cmd->add_option("--gen", o->generate, "Tokens to generate after each prompt (default 64)");
  cmd->add_option("--repetitions", o->repetitions, "Runs per prompt length; the fastest is reported (default 1)");
  cmd->add_option("--threads", o->threads, "CPU threads (default: all cores)");
  cmd->add_flag("--json", o->json, "Print the results as JSON");
  add_kv_cache_options(cmd, o->kv);
  cmd->callback([o] { run_bench(*o); });
}

}  // namespace glmq::cli
