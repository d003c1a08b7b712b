#include "serve/metrics.h"

#include <sstream>

namespace glmq::serve {

namespace {
constexpr auto kWindow = std::chrono::seconds(10);
}

void ServerMetrics::request_finished(int status) {
  if (status < 400) ++requests_ok_;
  else if (status == 503) ++requests_rejected_;
  else if (status < 500) ++requests_client_error_;
  else ++requests_server_error_;
}

void ServerMetrics::record_step(std::int64_t prompt_tokens, std::int64_t generated_tokens, double seconds) {
  prefilled_tokens_ += prompt_tokens;
  generated_tokens_ += generated_tokens;
  ++steps_;
  double busy = busy_seconds_.load();
  while (!busy_seconds_.compare_exchange_weak(busy, busy + seconds)) {
  }
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(window_mutex_);
  window_.push_back({now, generated_tokens});
  while (!window_.empty() && now - window_.front().at > kWindow) window_.pop_front();
}

void ServerMetrics::set_load(int active, int queued, int slots) {
  active_ = active;
  queued_ = queued;
  slots_ = slots;
}

double ServerMetrics::recent_generation_rate() const {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(window_mutex_);
  std::int64_t n = 0;
  for (const auto& e : window_)
    if (now - e.at <= kWindow) n += e.generated;
  return static_cast<double>(n) / std::chrono::duration<double>(kWindow).count();
}

std::string ServerMetrics::prometheus_text() const {
  std::ostringstream o;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    o << "# HELP glmq_" << name << ' ' << help << "\n# TYPE glmq_" << name << ' ' << type << "\nglmq_" << name << ' ' << value
      << '\n';
  };
  metric("requests_total", "counter", "HTTP requests to the generation endpoints.", requests_total_.load());
  o << "# HELP glmq_requests_finished_total Finished generation requests by outcome.\n"
       "# TYPE glmq_requests_finished_total counter\n"
    << "glmq_requests_finished_total{outcome=\"ok\"} " << requests_ok_.load() << '\n'
    << "glmq_requests_finished_total{outcome=\"client_error\"} " << requests_client_error_.load() << '\n'
    << "glmq_requests_finished_total{outcome=\"rejected\"} " << requests_rejected_.load() << '\n'
    << "glmq_requests_finished_total{outcome=\"server_error\"} " << requests_server_error_.load() << '\n';
  metric("prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", prompt_tokens_.load());
  metric("prefilled_tokens_total", "counter", "Prompt tokens run through the model.", prefilled_tokens_.load());
  metric("generated_tokens_total", "counter", "Tokens generated.", generated_tokens_.load());
  metric("steps_total", "counter", "Forward steps of the batch scheduler.", steps_.load());
  metric("busy_seconds_total", "counter", "Seconds the scheduler spent in forward steps.", busy_seconds_.load());
  metric("generation_tokens_per_second", "gauge", "Generated tokens per second over the last 10 s.", recent_generation_rate());
  metric("requests_active", "gauge", "Requests holding a sequence slot.", active_.load());
  metric("requests_queued", "gauge", "Requests waiting for a sequence slot.", queued_.load());
  metric("slots_total", "gauge", "Sequence slots (--parallel).", slots_.load());
  return o.str();
}

}  // namespace glmq::serve
