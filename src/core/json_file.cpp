#include "core/json_file.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace glmq {

Json parse_json_text(const std::string& text, const std::string& what) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
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
