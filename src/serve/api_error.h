#pragma once
// An error an API caller sees: an HTTP status and an OpenAI-style body
// {"error": {"message", "type", "param", "code"}}, so that clients' own error handling works unchanged.
#include <stdexcept>
#include <string>

namespace glmq::serve {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string type, const std::string& message, std::string param = {}, std::string code = {});
  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }
  // The JSON body: {"error": {...}}.
  std::string body() const;

 private:
  int status_;
  std::string type_, param_, code_;
};

// 400 invalid_request_error naming the offending field.
[[noreturn]] void invalid_request(const std::string& param, const std::string& message);

}  // namespace glmq::serve
