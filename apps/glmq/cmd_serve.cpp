// glmq serve: the OpenAI-compatible HTTP server (chat/completions, completions, models, tokenize, metrics)
// over one model, with continuous batching of up to --parallel requests.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "apps/glmq/chat_template_option.h"
#include "apps/glmq/cli_common.h"
#include "apps/glmq/commands.h"
#include "apps/glmq/backend_option.h"
#include "core/error.h"
#include "runtime/loaded_model.h"
#include "serve/api_server.h"

namespace glmq::cli {

namespace {

struct ServeOptions {
  std::string model, host = "127.0.0.1", alias, chat_template_file;
  int port = 8080, parallel = 4, queue = 64;
  BackendOptions compute;
  std::int64_t context = 4096, prompt_budget = 256;
  KvCacheOptions kv{.kv_bits = 16};
};

void run_serve(const ServeOptions& o) {
  if (o.parallel < 1) fail(ErrorKind::InvalidArgument, "--parallel must be at least 1, found " + std::to_string(o.parallel));
  if (o.queue < 0) fail(ErrorKind::InvalidArgument, "--queue must not be negative, found " + std::to_string(o.queue));
  if (o.context < 2) fail(ErrorKind::InvalidArgument, "--ctx must be at least 2, found " + std::to_string(o.context));
  if (o.port < 0 || o.port > 65535) fail(ErrorKind::InvalidArgument, "--port must be in [0, 65535], found " + std::to_string(o.port));
  // SIGINT/SIGTERM go to one thread that stops the server; every thread started below inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  LoadedModel m = load_model_bundle(o.model);
  m.require_tokenizer();
  if (o.chat_template_file.empty()) m.require_chat_template();  // names the model folder when it has none
  const ChatTemplate chat_template = load_chat_template(o.model, o.chat_template_file);

  serve::ServerOptions so;
  so.host = o.host;
  so.port = o.port;
  so.model_name = o.alias.empty() ? std::filesystem::path(o.model).lexically_normal().filename().string() : o.alias;
  if (so.model_name.empty()) so.model_name = std::filesystem::path(o.model).lexically_normal().parent_path().filename().string();
  so.scheduler.parallel = o.parallel;
  so.scheduler.context = std::min<std::int64_t>(o.context, m.weights().config.max_position_embeddings);
  so.scheduler.max_queue = o.queue;
  so.scheduler.prefill_budget = o.prompt_budget;
  o.kv.validate();
  so.scheduler.kv = o.kv;
  const std::unique_ptr<Backend> compute_backend = make_backend(o.compute);
  Backend& backend = *compute_backend;
  serve::ApiServer server(m, chat_template, backend, so);
  const int port = server.bind();
  std::fprintf(stderr, "glmq serve: http://%s:%d/v1 — model %s, %d slots × %lld tokens (%s), %s\n", o.host.c_str(), port,
               so.model_name.c_str(), o.parallel, static_cast<long long>(so.scheduler.context), o.kv.describe().c_str(),
               describe_backend(backend).c_str());
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::fprintf(stderr, "glmq serve: stopping\n");
    server.stop();
  });
  server.serve();
  // serve() also returns when the listening socket fails; wake the signal thread so it can be joined.
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server (chat/completions, completions, tools, reasoning)");
  auto o = std::make_shared<ServeOptions>();
  cmd->add_option("--model", o->model, "Model directory or .gguf file (first shard of a split one)")->required();
  cmd->add_option("--host", o->host, "Address to listen on (default 127.0.0.1)");
  cmd->add_option("--port", o->port, "Port (default 8080; 0 picks a free one)");
  cmd->add_option("--parallel", o->parallel, "Requests generated at once, each with its own cache (default 4)");
  cmd->add_option("--ctx", o->context, "Context tokens per request (default 4096, capped at the model's maximum)");
  add_backend_options(cmd, o->compute);
  cmd->add_option("--queue", o->queue, "Requests that may wait for a free slot before new ones get 503 (default 64)");
  cmd->add_option("--prompt-budget", o->prompt_budget, "Prompt tokens processed per step over all requests (default 256)");
  cmd->add_option("--alias", o->alias, "Model name reported by /v1/models (default: the directory name)");
  cmd->add_option("--chat-template-file", o->chat_template_file, "Jinja chat template to use instead of the model's");
  add_kv_cache_options(cmd, o->kv);
  cmd->callback([o] { run_serve(*o); });
}

}  // namespace glmq::cli
