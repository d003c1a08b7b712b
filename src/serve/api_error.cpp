#include "serve/api_error.h"

#include "serve/json_text.h"

namespace glmq::serve {

ApiError::ApiError(int status, std::string type, const std::string& message, std::string param, std::string code)
    : std::runtime_error(message), status_(status), type_(std::move(type)), param_(std::move(param)), code_(std::move(code)) {}

std::string ApiError::body() const {
  nlohmann::json e = {{"message", what()}, {"type", type_}, {"param", nullptr}, {"code", nullptr}};
  if (!param_.empty()) e["param"] = param_;
  if (!code_.empty()) e["code"] = code_;
  return json_text(nlohmann::json{{"error", e}});
}

void invalid_request(const std::string& param, const std::string& message) {
  throw ApiError(400, "invalid_request_error", param.empty() ? message : param + ": " + message, param);
}

}  // namespace glmq::serve
