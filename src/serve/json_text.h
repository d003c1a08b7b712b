#pragma once
// JSON to text for responses. Model output may hold bytes that are not valid UTF-8 (a token that ends mid
// character, a raw byte token); they become U+FFFD instead of throwing mid-response.
#include <string>

#include <nlohmann/json.hpp>

namespace glmq::serve {

template <class JsonType>
std::string json_text(const JsonType& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace glmq::serve
