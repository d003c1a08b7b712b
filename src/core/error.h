#pragma once
// Typed errors: every failure glmq reports names what was expected and what was found.
#include <stdexcept>
#include <string>
#include <string_view>

namespace glmq {

enum class ErrorKind {
  Io,           // a file could not be opened, read or mapped
  Format,       // a file's bytes do not follow its format (truncated, corrupt header, bad JSON)
  Config,       // a configuration key is missing, has the wrong type or an unsupported value
  MissingTensor,
  UnexpectedTensor,
  Shape,        // a tensor has the wrong shape
  DType,        // a tensor type glmq does not know or cannot use here
  InvalidArgument,  // a caller (CLI, API) passed a bad value
  Capacity,     // a request exceeds a configured limit (context length, ...)
  Device,       // an accelerator call failed (CUDA runtime, cuBLAS)
};

std::string_view error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message);
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// Throw helpers keep call sites short and the message format uniform: "<where>: <what>".
[[noreturn]] void fail(ErrorKind kind, const std::string& message);

}  // namespace glmq
