#pragma once
// The small endpoints: GET /v1/models, GET /health, POST /tokenize, POST /detokenize, GET /metrics.
#include <httplib.h>

#include "serve/serve_context.h"

namespace glmq::serve {

void handle_models(const ServeContext& ctx, httplib::Response& res);
void handle_health(httplib::Response& res);
// {"content" | "prompt": text} or {"messages": [...]} (through the chat template), "add_special" (default true),
// "with_pieces" → {"tokens": [...], "count": n, "max_model_len": context}.
void handle_tokenize(const ServeContext& ctx, const httplib::Request& req, httplib::Response& res);
// {"tokens": [ids]} → {"content": text, "prompt": text}.
void handle_detokenize(const ServeContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_metrics(const ServeContext& ctx, httplib::Response& res);

}  // namespace glmq::serve
