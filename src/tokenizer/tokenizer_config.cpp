#include "tokenizer/tokenizer_config.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace glmq {
namespace {

// Special tokens are a string or an AddedToken object {"content": ...}.
std::optional<std::string> token_field(const Json& j, const char* key, const std::string& what) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  const Json& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  fail(ErrorKind::Config, what + ": " + key + ": expected a string or {\"content\": string}, found " + v.dump());
}

bool bool_field(const Json& j, const char* key, const std::string& what) {
  if (!j.contains(key) || j[key].is_null()) return false;
  if (!j[key].is_boolean()) fail(ErrorKind::Config, what + ": " + key + ": expected a boolean, found " + j[key].dump());
  return j[key].get<bool>();
}

}  // namespace

TokenizerConfig TokenizerConfig::from_json(const Json& j, const std::string& what) {
  if (!j.is_object()) fail(ErrorKind::Format, what + ": expected a JSON object at the top level");
  TokenizerConfig c;
  if (j.contains("chat_template") && !j["chat_template"].is_null()) {
    const Json& t = j["chat_template"];
    if (t.is_string()) {
      c.chat_template = t.get<std::string>();
    } else if (t.is_array()) {
      // Named templates: transformers uses the one called "default".
      for (const Json& entry : t) {
        if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
            entry["template"].is_string()) {
          c.chat_template = entry["template"].get<std::string>();
        }
      }
      if (!c.chat_template) fail(ErrorKind::Config, what + ": chat_template: a list without a \"default\" template");
    } else {
      fail(ErrorKind::Config, what + ": chat_template: expected a string or a list of {name, template}, found " + t.dump());
    }
  }
  c.bos_token = token_field(j, "bos_token", what);
  c.eos_token = token_field(j, "eos_token", what);
  c.pad_token = token_field(j, "pad_token", what);
  c.unk_token = token_field(j, "unk_token", what);
  c.add_bos_token = bool_field(j, "add_bos_token", what);
  c.add_eos_token = bool_field(j, "add_eos_token", what);
  return c;
}

TokenizerConfig TokenizerConfig::from_directory(const std::string& dir) {
  const std::string path = dir + "/tokenizer_config.json";
  TokenizerConfig c = from_json(read_json_file(path), path);
  const std::string jinja_path = dir + "/chat_template.jinja";
  if (std::filesystem::exists(jinja_path)) {
    std::ifstream in(jinja_path, std::ios::binary);
    if (!in) fail(ErrorKind::Io, jinja_path + ": cannot open");
    std::ostringstream ss;
    ss << in.rdbuf();
    c.chat_template = ss.str();
  }
  return c;
}

}  // namespace glmq
