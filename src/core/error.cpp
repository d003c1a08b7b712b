#include "core/error.h"

namespace glmq {

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Io: return "io error";
    case ErrorKind::Format: return "format error";
    case ErrorKind::Config: return "config error";
    case ErrorKind::MissingTensor: return "missing tensor";
    case ErrorKind::UnexpectedTensor: return "unexpected tensor";
    case ErrorKind::Shape: return "shape error";
    case ErrorKind::DType: return "dtype error";
    case ErrorKind::InvalidArgument: return "invalid argument";
    case ErrorKind::Capacity: return "capacity exceeded";
    case ErrorKind::Device: return "device failure";
  }
  return "error";
}

Error::Error(ErrorKind kind, const std::string& message)
    : std::runtime_error(std::string(error_kind_name(kind)) + ": " + message), kind_(kind) {}

void fail(ErrorKind kind, const std::string& message) { throw Error(kind, message); }

}  // namespace glmq
