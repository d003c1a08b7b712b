#pragma once
// JSON files with errors that name the file and the position of a syntax error.
#include <nlohmann/json.hpp>
#include <string>

namespace glmq {

using Json = nlohmann::json;

Json read_json_file(const std::string& path);
Json parse_json_text(const std::string& text, const std::string& what);

}  // namespace glmq
