#pragma once
// Line-oriented data files (jsonl records, label lists) with errors that name the file and line.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_file.h"

namespace glmq::eval {

// One parsed jsonl record and where it came from; field accessors fail with "FILE:LINE: field 'x' ...".
class JsonlRecord {
 public:
  JsonlRecord(const Json& value, const std::string& path, std::int64_t line)
      : value_(value), path_(path), line_(line) {}
  std::string where() const { return path_ + ":" + std::to_string(line_); }
  std::int64_t line() const { return line_; }
  std::string string_field(std::string_view key) const;
  std::int64_t integer_field(std::string_view key) const;
  std::vector<std::string> string_array_field(std::string_view key) const;

 private:
  const Json& field(std::string_view key) const;
  const Json& value_;
  const std::string& path_;
  std::int64_t line_;
};

// Calls `visit` for every non-blank line of a jsonl file, in order, until it returns false. A line that is not
// a JSON object is a Format error naming the file and its 1-based line number.
void for_each_jsonl_record(const std::string& path, const std::function<bool(const JsonlRecord&)>& visit);

// Every line of a text file, without its line ending; an unreadable file is an Io error.
std::vector<std::string> read_lines(const std::string& path);

// The whole file as bytes.
std::string read_text_file(const std::string& path);

}  // namespace glmq::eval
