#pragma once
// Server counters for GET /metrics (Prometheus text format): requests by outcome, tokens, throughput over
// the last seconds, slots and queue. Updated from HTTP threads and the scheduler thread.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

namespace glmq::serve {

class ServerMetrics {
 public:
  void request_started() { ++requests_total_; }
  void request_finished(int http_status);
  void add_prompt_tokens(std::int64_t n) { prompt_tokens_ += n; }
  // One forward step of the scheduler: how many tokens it decoded and how long it took.
  void record_step(std::int64_t prompt_tokens, std::int64_t generated_tokens, double seconds);
  void set_load(int active, int queued, int slots);

  std::int64_t generated_tokens() const { return generated_tokens_.load(); }
  int queued() const { return queued_.load(); }
  // Generated tokens per second over the last `window` of steps.
  double recent_generation_rate() const;
  std::string prometheus_text() const;

 private:
  std::atomic<std::int64_t> requests_total_{0}, requests_ok_{0}, requests_client_error_{0}, requests_rejected_{0},
      requests_server_error_{0};
  std::atomic<std::int64_t> prompt_tokens_{0}, prefilled_tokens_{0}, generated_tokens_{0}, steps_{0};
  std::atomic<double> busy_seconds_{0.0};
  std::atomic<int> active_{0}, queued_{0}, slots_{0};
  mutable std::mutex window_mutex_;
  struct WindowEntry {
    std::chrono::steady_clock::time_point at;
    std::int64_t generated;
  };
  std::deque<WindowEntry> window_;
};

}  // namespace glmq::serve
