#pragma once
// POST /v1/completions: raw text (or token ids) in, text out; no template and no output parsing.
#include <httplib.h>

#include "serve/serve_context.h"

namespace glmq::serve {

void handle_completions(const ServeContext& ctx, const httplib::Request& req, httplib::Response& res);

}  // namespace glmq::serve
