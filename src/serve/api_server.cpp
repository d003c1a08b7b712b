#include "serve/api_server.h"

#include <csignal>
#include <httplib.h>

#include "core/error.h"
#include "serve/chat_endpoint.h"
#include "serve/completion_endpoint.h"
#include "serve/utility_endpoints.h"

namespace glmq::serve {

namespace {

using Handler = std::function<void(const ServeContext&, const httplib::Request&, httplib::Response&)>;

// Every failure becomes an OpenAI error body; nothing a request does can take the server down.
httplib::Server::Handler guarded(std::shared_ptr<ServeContext> ctx, Handler handler, bool counted) {
  return [ctx, handler = std::move(handler), counted](const httplib::Request& req, httplib::Response& res) {
    if (counted) ctx->metrics.request_started();
    try {
      handler(*ctx, req, res);
    } catch (const ApiError& e) {
      send_error(res, e);
    } catch (const Error& e) {
      const bool caller = e.kind() == ErrorKind::InvalidArgument || e.kind() == ErrorKind::Capacity;
      send_error(res, ApiError(caller ? 400 : 500, caller ? "invalid_request_error" : "server_error", e.what()));
    } catch (const std::exception& e) {
      send_error(res, ApiError(500, "server_error", std::string("internal error: ") + e.what()));
    }
    if (counted) ctx->metrics.request_finished(res.status == -1 ? 200 : res.status);
  };
}

}  // namespace

ApiServer::ApiServer(const LoadedModel& model, const ChatTemplate& chat_template, Backend& backend, ServerOptions options)
    : model_(model),
      chat_template_(chat_template),
      options_(std::move(options)),
      scheduler_(model.weights(), backend, model.stop_ids, options_.scheduler, metrics_),
      http_(std::make_unique<httplib::Server>()) {
  model.require_tokenizer();
  // A client that disconnects mid-stream must cost a failed write, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  // Each waiting request holds a worker thread; leave room for the queue plus health and metrics probes.
  const auto workers = static_cast<std::size_t>(options_.scheduler.parallel + options_.scheduler.max_queue + 16);
  http_->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  http_->set_payload_max_length(options_.max_body_bytes);
  http_->set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const int status = res.status;
    const std::string message = status == 404   ? "no route for " + req.method + " " + req.path
                                : status == 413 ? "the request body is too large"
                                                : "bad request";
    send_error(res, ApiError(status, status == 404 ? "not_found_error" : "invalid_request_error", message));
    return httplib::Server::HandlerResponse::Handled;
  }));
  add_routes();
}

ApiServer::~ApiServer() { stop(); }

void ApiServer::add_routes() {
  auto ctx = std::make_shared<ServeContext>(
      ServeContext{model_, chat_template_, scheduler_, metrics_, options_.model_name, options_.scheduler.context,
                   TokenBytes::from(model_.require_tokenizer())});
  auto route = [&](const char* method, const std::string& path, Handler h, bool counted) {
    for (const std::string& p : {"/v1" + path, path}) {
      if (std::string(method) == "GET") http_->Get(p, guarded(ctx, h, counted));
      else http_->Post(p, guarded(ctx, h, counted));
    }
  };
  route("POST", "/chat/completions", handle_chat_completions, true);
  route("POST", "/completions", handle_completions, true);
  route("GET", "/models", [](const ServeContext& c, const httplib::Request&, httplib::Response& r) { handle_models(c, r); }, false);
  http_->Get("/health", guarded(ctx, [](const ServeContext&, const httplib::Request&, httplib::Response& r) { handle_health(r); }, false));
  http_->Post("/tokenize", guarded(ctx, handle_tokenize, false));
  http_->Post("/detokenize", guarded(ctx, handle_detokenize, false));
  http_->Get("/metrics", guarded(ctx, [](const ServeContext& c, const httplib::Request&, httplib::Response& r) { handle_metrics(c, r); }, false));
}

int ApiServer::bind() {
  int port = options_.port;
  if (port == 0) {
    port = http_->bind_to_any_port(options_.host);
    if (port < 0) fail(ErrorKind::Io, "cannot listen on " + options_.host + " (any port)");
  } else if (!http_->bind_to_port(options_.host, port)) {
    fail(ErrorKind::Io, "cannot listen on " + options_.host + ":" + std::to_string(port) + " (in use, or not an address of this machine)");
  }
  return port;
}

void ApiServer::serve() { http_->listen_after_bind(); }

void ApiServer::stop() { http_->stop(); }

}  // namespace glmq::serve
