#include "core/json_file.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace glmq {

Json parse_json_text(const std::string& text, const std::string& what) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    // parse_error, and also out_of_range for a number too large for a double (e.g. 1e999), which the fuzzer found
    // escaping as a non-glmq exception.
    fail(ErrorKind::Format, what + ": invalid JSON: " + e.what());
  }
}

Json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::Io, path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_json_text(ss.str(), path);
}

}  // namespace glmq
