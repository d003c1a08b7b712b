#pragma once
// What every endpoint handler needs: the model (tokenizer, template), the scheduler and the metrics, plus the
// helpers that turn checked request options into a generation and send JSON or errors.
#include <cstdint>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "runtime/loaded_model.h"
#include "serve/api_error.h"
#include "serve/api_request.h"
#include "serve/generation_job.h"
#include "serve/metrics.h"
#include "serve/response_json.h"
#include "serve/scheduler.h"

namespace glmq::serve {

struct ServeContext {
  const LoadedModel& model;
  const ChatTemplate& chat_template;
  Scheduler& scheduler;
  ServerMetrics& metrics;
  std::string model_name;
  std::int64_t context = 0;
  std::shared_ptr<const TokenBytes> token_bytes;  // for JSON mode
};

// Prompt and options → the scheduler's input: 400 when the prompt does not leave room in the context,
// max_tokens exceeds it, or a token id is outside the vocabulary. An unseeded request gets a random seed.
GenerationInput generation_input(const ServeContext& ctx, const GenerationOptions& options, std::vector<std::int32_t> prompt);

ResponseHeader new_response_header(const ServeContext& ctx, const char* id_prefix);

void send_json(httplib::Response& res, const nlohmann::json& body, int status = 200);
void send_error(httplib::Response& res, const ApiError& error);

// Waits for the next tokens of `job`, checking a few times a second that the client is still connected;
// cancels the job and returns nullopt once it is not.
class ClientConnection;
std::optional<GenerationJob::Update> next_update(GenerationJob& job, const ClientConnection& client);

}  // namespace glmq::serve
