// glmq bench: prompt-processing and generation speed, time to first token, peak memory; with --depth, decode
// speed at a context depth (one prefill, then several timed decode runs from the same cache).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <span>

#include "apps/glmq/cli_common.h"
#include "apps/glmq/commands.h"
#include "apps/glmq/backend_option.h"
#include "core/error.h"
#include "core/json_file.h"
#include "eval/speed_bench.h"
#include "runtime/session.h"

namespace glmq::cli {

namespace {
struct BenchOptions {
  std::string model, prompt_lengths = "128,512", depths;
  std::int64_t generate = 64;
  int repetitions = 1;
  BackendOptions compute;
  KvCacheOptions kv{.kv_bits = 16};
  bool json = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// --depth: the depths in increasing order share one pseudo-random prompt, prefilled segment by segment (so the
// deepest depth costs one prefill in all); at each depth N, `repetitions` times cut the cache back to N tokens and
// time `generate` greedy decode steps (positions N … N + generate − 1). Reports the median, fastest and slowest run,
// so that noise on a shared machine shows, and the resident memory at that depth.
void run_depth_bench(const BenchOptions& o) {
  std::vector<std::int64_t> depths;
  for (auto d : parse_token_list(o.depths, "--depth")) {
    if (d < 1) fail(ErrorKind::InvalidArgument, "--depth: depths must be positive");
    depths.push_back(d);
  }
  std::sort(depths.begin(), depths.end());
  depths.erase(std::unique(depths.begin(), depths.end()), depths.end());
  if (o.repetitions < 1) fail(ErrorKind::InvalidArgument, "--repetitions must be at least 1");
  if (o.generate < 1) fail(ErrorKind::InvalidArgument, "--gen must be at least 1 with --depth");
  auto model = load_model(o.model);
  const GlmConfig& c = model->weights.config;
  const std::int64_t context = depths.back() + o.generate;
  const std::unique_ptr<Backend> compute_backend = make_backend(o.compute);
  Backend& backend = *compute_backend;
  Session session(model->weights, backend, context, o.kv);
  std::mt19937 rng(1234);
  std::uniform_int_distribution<std::int32_t> pick(0, static_cast<std::int32_t>(c.vocab_size - 1));
  std::vector<std::int32_t> prompt(static_cast<std::size_t>(depths.back()));
  for (auto& id : prompt) id = pick(rng);

  Json results = Json::array();
  if (!o.json)
    std::printf("| depth | decoded | decode tokens/s (median) | slowest | fastest | prefill tokens/s (this segment) | "
                "cache MiB | RSS MiB |\n|---|---|---|---|---|---|---|---|\n");
  std::int64_t filled = 0;
  for (auto depth : depths) {
    session.truncate(filled);
    auto t0 = std::chrono::steady_clock::now();
    const std::span<const std::int32_t> segment(prompt.data() + filled, static_cast<std::size_t>(depth - filled));
    const std::int32_t first = argmax(session.prefill(segment, false));
    const double prefill_seconds = seconds_since(t0);
    const double prefill_rate = static_cast<double>(depth - filled) / prefill_seconds;
    filled = depth;
    std::vector<double> rates;
    for (int rep = 0; rep < o.repetitions; ++rep) {
      session.truncate(depth);
      std::int32_t next = first;
      t0 = std::chrono::steady_clock::now();
      for (std::int64_t i = 0; i < o.generate; ++i) next = argmax(session.decode(next));
      rates.push_back(static_cast<double>(o.generate) / seconds_since(t0));
    }
    std::sort(rates.begin(), rates.end());
    const std::size_t n = rates.size();
    const double median = n % 2 ? rates[n / 2] : 0.5 * (rates[n / 2 - 1] + rates[n / 2]);
    const double cache_bytes = static_cast<double>(session.cache().bytes_per_token()) * static_cast<double>(depth);
    results.push_back({{"depth", depth},
                       {"decoded_tokens", o.generate},
                       {"decode_runs", o.repetitions},
                       {"decode_tokens_per_second_median", median},
                       {"decode_tokens_per_second_min", rates.front()},
                       {"decode_tokens_per_second_max", rates.back()},
                       {"prefill_seconds", prefill_seconds},
                       {"prefill_tokens_per_second", prefill_rate},
                       {"cache_bytes_at_depth", cache_bytes},
                       {"rss_bytes_at_depth", eval::current_rss_bytes()}});
    if (!o.json) {
      std::printf("| %lld | %lld × %d | %.2f | %.2f | %.2f | %.1f | %.1f | %.1f |\n", static_cast<long long>(depth),
                  static_cast<long long>(o.generate), o.repetitions, median, rates.front(), rates.back(), prefill_rate,
                  cache_bytes / (1024.0 * 1024.0), static_cast<double>(eval::current_rss_bytes()) / (1024.0 * 1024.0));
      std::fflush(stdout);
    }
  }
  if (o.json) {
    Json doc = {{"model", o.model},
                {"backend", backend.name()},
                {"threads", backend_threads(backend)},
                {"device", describe_backend(backend)},
                {"kv_cache", o.kv.describe()},
                {"cache_bytes_per_token", session.cache().bytes_per_token()},
                {"weight_bytes", model->weights.total_bytes()},
                {"peak_rss_bytes", eval::peak_rss_bytes()},
                {"results", results}};
    std::printf("%s\n", doc.dump(2).c_str());
  } else {
    std::printf("backend %s, cache %s (%zu bytes/token) | weights %.1f MiB | peak RSS %.1f MiB\n",
                describe_backend(backend).c_str(), o.kv.describe().c_str(), session.cache().bytes_per_token(),
                static_cast<double>(model->weights.total_bytes()) / (1024.0 * 1024.0),
                static_cast<double>(eval::peak_rss_bytes()) / (1024.0 * 1024.0));
  }
}

void run_bench(const BenchOptions& o) {
  if (!o.depths.empty()) return run_depth_bench(o);
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
  const std::unique_ptr<Backend> compute_backend = make_backend(o.compute);
  Backend& backend = *compute_backend;
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
                {"threads", backend_threads(backend)},
                {"device", describe_backend(backend)},
                {"batch", 1},
                {"repetitions", o.repetitions},
                {"weight_bytes", model->weights.total_bytes()},
                {"peak_rss_bytes", eval::peak_rss_bytes()},
                {"results", results}};
    std::printf("%s\n", doc.dump(2).c_str());
  } else {
    std::printf("backend %s, batch 1, best of %d | weights %.1f MiB | peak RSS %.1f MiB\n",
                describe_backend(backend).c_str(), o.repetitions,
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
  cmd->add_option("--depth", o->depths,
                  "Comma-separated context depths: one prompt prefilled up to each depth in turn, then --gen decode "
                  "steps timed from there, --repetitions times (median reported); replaces --prompt-lengths");
  cmd->add_option("--repetitions", o->repetitions,
                  "Runs per prompt length (the fastest is reported) or per depth (the median) (default 1)");
  add_backend_options(cmd, o->compute);
  cmd->add_flag("--json", o->json, "Print the results as JSON");
  add_kv_cache_options(cmd, o->kv);
  cmd->callback([o] { run_bench(*o); });
}

}  // namespace glmq::cli
