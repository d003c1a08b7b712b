#include "eval/jsonl_file.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace glmq::eval {

namespace {
std::ifstream open_or_fail(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::Io, path + ": cannot open");
  return in;
}

bool is_blank(const std::string& line) { return line.find_first_not_of(" \t\r") == std::string::npos; }
}  // namespace

const Json& JsonlRecord::field(std::string_view key) const {
  auto it = value_.find(key);
  if (it == value_.end()) fail(ErrorKind::Format, where() + ": missing field '" + std::string(key) + "'");
  return *it;
}

std::string JsonlRecord::string_field(std::string_view key) const {
  const Json& v = field(key);
  if (!v.is_string())
    fail(ErrorKind::Format, where() + ": field '" + std::string(key) + "' should be a string, found " + v.type_name());
  return v.get<std::string>();
}

std::int64_t JsonlRecord::integer_field(std::string_view key) const {
  const Json& v = field(key);
  if (!v.is_number_integer())
    fail(ErrorKind::Format,
         where() + ": field '" + std::string(key) + "' should be an integer, found " + v.type_name());
  return v.get<std::int64_t>();
}

std::vector<std::string> JsonlRecord::string_array_field(std::string_view key) const {
  const Json& v = field(key);
  std::vector<std::string> out;
  bool ok = v.is_array();
  if (ok)
    for (const Json& item : v) {
      if (!item.is_string()) {
        ok = false;
        break;
      }
      out.push_back(item.get<std::string>());
    }
  if (!ok) fail(ErrorKind::Format, where() + ": field '" + std::string(key) + "' should be an array of strings");
  return out;
}

void for_each_jsonl_record(const std::string& path, const std::function<bool(const JsonlRecord&)>& visit) {
  std::ifstream in = open_or_fail(path);
  std::string line;
  for (std::int64_t number = 1; std::getline(in, line); ++number) {
    if (is_blank(line)) continue;
    Json value;
    try {
      value = Json::parse(line);
    } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
      fail(ErrorKind::Format, path + ":" + std::to_string(number) + ": not valid JSON (" + e.what() + ")");
    }
    if (!value.is_object())
      fail(ErrorKind::Format,
           path + ":" + std::to_string(number) + ": expected a JSON object, found " + value.type_name());
    if (!visit(JsonlRecord(value, path, number))) return;
  }
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in = open_or_fail(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in = open_or_fail(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace glmq::eval
