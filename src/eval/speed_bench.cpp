#include <unistd.h>
#include <cstdio>
#include "eval/speed_bench.h"

#include <sys/resource.h>

#include <chrono>
#include <random>
#include <vector>

#include "core/error.h"

namespace glmq::eval {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

double SpeedResult::prompt_tokens_per_second() const {
  return prefill_seconds > 0 ? static_cast<double>(prompt_tokens) / prefill_seconds : 0;
}

double SpeedResult::generation_tokens_per_second() const {
  // The first generated token comes from the prefill; decode produced the rest.
  return decode_seconds > 0 && generated_tokens > 1 ? static_cast<double>(generated_tokens - 1) / decode_seconds : 0;
}

SpeedResult measure_speed(Session& session, std::int64_t vocab, std::int64_t prompt_tokens, std::int64_t generate) {
  if (prompt_tokens < 1) fail(ErrorKind::InvalidArgument, "prompt length must be at least 1");
  if (generate < 0) fail(ErrorKind::InvalidArgument, "--gen must be non-negative");
  if (prompt_tokens + generate > session.context())
    fail(ErrorKind::Capacity, "prompt " + std::to_string(prompt_tokens) + " + generated " + std::to_string(generate) +
                                  " tokens exceed the context of " + std::to_string(session.context()));
  std::mt19937 rng(1234);
  std::uniform_int_distribution<std::int32_t> pick(0, static_cast<std::int32_t>(vocab - 1));
  std::vector<std::int32_t> prompt(static_cast<std::size_t>(prompt_tokens));
  for (auto& id : prompt) id = pick(rng);

  session.reset();
  SpeedResult r;
  r.prompt_tokens = prompt_tokens;
  auto t0 = std::chrono::steady_clock::now();
  auto logits = session.prefill(prompt, false);
  r.prefill_seconds = seconds_since(t0);
  std::int32_t next = argmax(logits);
  r.first_token_seconds = seconds_since(t0);
  if (generate == 0) return r;
  r.generated_tokens = 1;
  t0 = std::chrono::steady_clock::now();
  for (std::int64_t i = 1; i < generate; ++i) {
    next = argmax(session.decode(next));
    ++r.generated_tokens;
  }
  r.decode_seconds = seconds_since(t0);
  return r;
}

std::int64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;  // Linux reports kilobytes
}

std::int64_t current_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long long size = 0, resident = 0;
  const int got = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<std::int64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace glmq::eval
