#include "backend/kv_rows.h"

#include "core/error.h"

namespace glmq {

std::string kv_format_name(KvFormat format) {
  switch (format) {
    case KvFormat::F32: return "f32";
    case KvFormat::F16: return "f16";
    case KvFormat::Q8: return "q8";
    case KvFormat::Q4: return "q4";
  }
  return "?";
}

int kv_format_bits(KvFormat format) {
  switch (format) {
    case KvFormat::F32: return 32;
    case KvFormat::F16: return 16;
    case KvFormat::Q8: return 8;
    case KvFormat::Q4: return 4;
  }
  return 0;
}

KvFormat kv_format_for_bits(int bits, const std::string& what) {
  switch (bits) {
    case 32: return KvFormat::F32;
    case 16: return KvFormat::F16;
    case 8: return KvFormat::Q8;
    case 4: return KvFormat::Q4;
    default: fail(ErrorKind::InvalidArgument, what + " must be 32, 16, 8 or 4, found " + std::to_string(bits));
  }
}

}  // namespace glmq
