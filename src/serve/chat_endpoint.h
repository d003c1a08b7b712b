#pragma once
// POST /v1/chat/completions, streamed (server-sent events) or not.
#include <httplib.h>

#include "serve/serve_context.h"

namespace glmq::serve {

void handle_chat_completions(const ServeContext& ctx, const httplib::Request& req, httplib::Response& res);

}  // namespace glmq::serve
