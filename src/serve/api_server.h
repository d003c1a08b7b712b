#pragma once
// The OpenAI-compatible HTTP server: routes, error bodies, and the scheduler that runs the model.
//   POST /v1/chat/completions, /v1/completions   GET /v1/models, /health, /metrics   POST /tokenize, /detokenize
// (also without the /v1 prefix, for clients configured with the bare host as base URL).
#include <memory>
#include <string>

#include "backend/backend.h"
#include "runtime/loaded_model.h"
#include "serve/metrics.h"
#include "serve/scheduler.h"

namespace httplib {
class Server;
}

namespace glmq::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see bind())
  std::string model_name;
  SchedulerOptions scheduler;
  std::size_t max_body_bytes = 32u << 20;
};

class ApiServer {
 public:
  // The model needs a tokenizer; `chat_template` is the model's or one given on the command line.
  ApiServer(const LoadedModel& model, const ChatTemplate& chat_template, Backend& backend, ServerOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the listening socket; returns the port (the chosen one when options.port is 0). Io error on failure.
  int bind();
  // Serves until stop() (call bind() first).
  void serve();
  void stop();
  const ServerMetrics& metrics() const { return metrics_; }

 private:
  void add_routes();

  const LoadedModel& model_;
  const ChatTemplate& chat_template_;
  ServerOptions options_;
  ServerMetrics metrics_;
  Scheduler scheduler_;
  std::unique_ptr<httplib::Server> http_;
};

}  // namespace glmq::serve
