#include "formats/gguf_tokenizer_metadata.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "core/json_file.h"

namespace glmq {

namespace fs = std::filesystem;

namespace {

// gguf.TokenType (gguf-py constants.py).
constexpr std::int32_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5;

struct AddedToken {
  std::string content;
  bool special = false;
};

// conversion/base.py does_token_look_special: some tokenizers leave control tokens unmarked.
bool looks_special(const std::string& t) {
  if (t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]") return true;
  return t.size() >= 4 && t.compare(0, 2, "<|") == 0 && t.compare(t.size() - 2, 2, "|>") == 0;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t i = s.find(from); i != std::string::npos; i = s.find(from, i + to.size())) s.replace(i, from.size(), to);
  return s;
}

// SpecialVocab's merges: "a b" strings as they are; [a, b] pairs joined by a space, spaces inside a part written as
// U+0120 (chr(ord(' ') + 256)) so the pair stays splittable.
std::vector<std::string> merges_of(const Json& model, const std::string& where) {
  std::vector<std::string> out;
  if (!model.contains("merges") || !model["merges"].is_array()) return out;
  for (const auto& m : model["merges"]) {
    if (m.is_string()) {
      out.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      out.push_back(replace_all(m[0].get<std::string>(), " ", "\xC4\xA0") + " " + replace_all(m[1].get<std::string>(), " ", "\xC4\xA0"));
    } else {
      fail(ErrorKind::Format, where + ": model.merges entries must be \"a b\" strings or [a, b] pairs");
    }
  }
  return out;
}

// The order gguf-py's SpecialVocab fills its ids in (its special_token_types, then GLM's eot and eom), with the
// GGUF key each goes to; "cls" has no GGUF key and is skipped, as gguf-py does.
const std::pair<const char*, const char*> kSpecialKeys[] = {
    {"bos", "tokenizer.ggml.bos_token_id"},     {"eos", "tokenizer.ggml.eos_token_id"},
    {"unk", "tokenizer.ggml.unknown_token_id"}, {"sep", "tokenizer.ggml.seperator_token_id"},
    {"pad", "tokenizer.ggml.padding_token_id"}, {"mask", "tokenizer.ggml.mask_token_id"},
    {"eot", "tokenizer.ggml.eot_token_id"},     {"eom", "tokenizer.ggml.eom_token_id"},
};

class SpecialIds {
 public:
  // The first value set for a type wins (SpecialVocab._set_special_token).
  void set(const std::string& type, std::optional<std::int64_t> id) {
    if (!id || *id < 0) return;
    for (const auto& [t, v] : ids_)
      if (t == type) return;
    ids_.emplace_back(type, *id);
  }
  void to_metadata(GgufMetadata& md) const {
    for (const auto& [type, id] : ids_)
      for (const auto& [t, key] : kSpecialKeys)
        if (type == t) md.emplace_back(key, GgufValue::u32(static_cast<std::uint32_t>(id)));
  }

 private:
  std::vector<std::pair<std::string, std::int64_t>> ids_;
};

}  // namespace

GgufMetadata gguf_tokenizer_metadata(const std::string& hf_dir, std::int64_t vocab_size) {
  const std::string tokenizer_path = (fs::path(hf_dir) / "tokenizer.json").string();
  if (!fs::exists(tokenizer_path)) fail(ErrorKind::Io, tokenizer_path + ": not found; a GGUF needs the model's tokenizer");
  const Json tj = read_json_file(tokenizer_path);
  if (!tj.contains("model") || !tj["model"].is_object() || tj["model"].value("type", "") != "BPE" ||
      !tj["model"].contains("vocab") || !tj["model"]["vocab"].is_object())
    fail(ErrorKind::Format, tokenizer_path + ": expected a BPE model with a vocab (GLM's byte-level BPE)");
  const std::string config_path = (fs::path(hf_dir) / "tokenizer_config.json").string();
  const Json tc = fs::exists(config_path) ? read_json_file(config_path) : Json::object();
  const Json config = read_json_file((fs::path(hf_dir) / "config.json").string());

  // Ids → text: the BPE vocab, then added tokens (which may also be in the vocab).
  std::map<std::int64_t, std::string> by_id;
  for (const auto& [text, id] : tj["model"]["vocab"].items()) by_id[id.get<std::int64_t>()] = text;
  std::map<std::int64_t, AddedToken> added;
  std::map<std::string, std::int64_t> added_by_text;
  if (tj.contains("added_tokens"))
    for (const auto& a : tj["added_tokens"]) {
      const auto id = a.at("id").get<std::int64_t>();
      const auto content = a.at("content").get<std::string>();
      added[id] = {content, a.value("special", false)};
      by_id[id] = content;
      added_by_text.emplace(content, id);  // the first of equal texts, as SpecialVocab looks them up
    }
  if (!by_id.empty() && by_id.rbegin()->first >= vocab_size)
    fail(ErrorKind::Config, tokenizer_path + ": token id " + std::to_string(by_id.rbegin()->first) + " is outside config.json's vocab_size " +
                                std::to_string(vocab_size));

  // get_vocab_base: every id below vocab_size, holes as [PAD<id>]; added tokens CONTROL when special (or looking
  // special), else USER_DEFINED. Byte-level BPE decodes an added token to itself, so the converter's
  // decode(encode(token)) normalisation leaves the text as it is.
  std::vector<std::string> tokens;
  std::vector<std::int32_t> types;
  tokens.reserve(static_cast<std::size_t>(vocab_size));
  types.reserve(static_cast<std::size_t>(vocab_size));
  for (std::int64_t id = 0; id < vocab_size; ++id) {
    const auto it = by_id.find(id);
    if (it == by_id.end()) {
      tokens.push_back("[PAD" + std::to_string(id) + "]");
      types.push_back(kUnused);
    } else if (const auto a = added.find(id); a != added.end()) {
      const bool control = a->second.special || looks_special(it->second);
      tokens.push_back(control ? it->second : replace_all(it->second, "\xE2\x96\x81", " "));
      types.push_back(control ? kControl : kUserDefined);
    } else {
      tokens.push_back(it->second);
      types.push_back(kNormal);
    }
  }

  GgufMetadata md;
  md.emplace_back("tokenizer.ggml.model", GgufValue::string("gpt2"));
  // GLM-4/5's pre-tokenizer; llama.cpp treats "glm4" and "glm5" alike (LLAMA_VOCAB_PRE_TYPE_CHATGLM4).
  md.emplace_back("tokenizer.ggml.pre", GgufValue::string("glm4"));
  md.emplace_back("tokenizer.ggml.tokens", GgufValue::string_array(std::move(tokens)));
  md.emplace_back("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  std::vector<std::string> merges = merges_of(tj["model"], tokenizer_path);
  if (!merges.empty()) md.emplace_back("tokenizer.ggml.merges", GgufValue::string_array(std::move(merges)));

  // SpecialVocab: tokenizer_config's <type>_token texts, then config.json's <type>_token_id, then _set_vocab_glm's
  // bos [gMASK], eot <|user|>, unk <|endoftext|>, eom <|observation|>.
  SpecialIds ids;
  auto added_id = [&](const std::string& text) -> std::optional<std::int64_t> {
    const auto it = added_by_text.find(text);
    return it == added_by_text.end() ? std::nullopt : std::optional<std::int64_t>(it->second);
  };
  for (const char* type : {"bos", "eos", "unk", "sep", "pad", "cls", "mask"}) {
    const std::string key = std::string(type) + "_token";
    if (!tc.contains(key)) continue;
    const Json& entry = tc[key];
    if (entry.is_string()) ids.set(type, added_id(entry.get<std::string>()));
    else if (entry.is_object() && entry.contains("content") && entry["content"].is_string()) ids.set(type, added_id(entry["content"].get<std::string>()));
  }
  for (const char* type : {"bos", "eos", "unk", "sep", "pad", "cls", "mask"}) {
    const std::string key = std::string(type) + "_token_id";
    if (config.contains(key) && config[key].is_number_integer()) ids.set(type, config[key].get<std::int64_t>());
  }
  ids.set("bos", added_id("[gMASK]"));
  ids.set("eot", added_id("<|user|>"));
  ids.set("unk", added_id("<|endoftext|>"));
  ids.set("eom", added_id("<|observation|>"));
  ids.to_metadata(md);

  // add_bos/add_eos: false under a ByteLevel post-processor, else tokenizer_config's add_<type>_token flags.
  std::vector<std::pair<std::string, bool>> add_flags;
  // set_flag overrides an earlier value (a template after ByteLevel decides); add_flag only fills a missing one.
  auto set_flag = [&](const std::string& type, bool value, bool override) {
    for (auto& [t, v] : add_flags)
      if (t == type) {
        if (override) v = value;
        return;
      }
    add_flags.emplace_back(type, value);
  };
  auto add_flag = [&](const std::string& type, bool value) { set_flag(type, value, false); };
  auto config_token = [&](const char* key) {
    if (!tc.contains(key)) return std::string();
    const Json& e = tc[key];
    if (e.is_string()) return e.get<std::string>();
    return e.is_object() && e.contains("content") && e["content"].is_string() ? e["content"].get<std::string>() : std::string();
  };
  if (tj.contains("post_processor") && tj["post_processor"].is_object()) {
    const Json& pp = tj["post_processor"];
    const Json processors = pp.contains("processors") ? pp["processors"] : Json::array({pp});
    for (const auto& p : processors) {
      const std::string type = p.is_object() ? p.value("type", "") : "";
      if (type == "ByteLevel") {
        add_flag("bos", false);
        add_flag("eos", false);
      } else if (type == "TemplateProcessing" && p.contains("single") && p["single"].is_array() && p["single"].size() > 1) {
        // SpecialVocab's reading of a simple template: a leading bos (or cls) and a trailing eos are added. (Its
        // re-labelling of unknown leading/trailing tokens as bos/eot/eom is not reproduced.)
        auto special = [](const Json& item) {
          return item.contains("SpecialToken") ? item["SpecialToken"].value("id", "") : std::string();
        };
        const std::string head = special(p["single"].front()), tail = special(p["single"].back());
        if (!head.empty()) set_flag("bos", head == config_token("bos_token") || head == config_token("cls_token"), true);
        if (!tail.empty()) set_flag("eos", tail == config_token("eos_token"), true);
      }
    }
  }
  for (const char* type : {"bos", "eos", "sep"})  // the add_* flags GGUF has keys for
    if (tc.contains(std::string("add_") + type + "_token") && tc[std::string("add_") + type + "_token"].is_boolean())
      add_flag(type, tc[std::string("add_") + type + "_token"].get<bool>());
  for (const auto& [type, value] : add_flags) md.emplace_back("tokenizer.ggml.add_" + type + "_token", GgufValue::boolean(value));

  // The chat template: tokenizer_config.json's, else chat_template.jinja beside it.
  if (tc.contains("chat_template") && tc["chat_template"].is_string()) {
    md.emplace_back("tokenizer.chat_template", GgufValue::string(tc["chat_template"].get<std::string>()));
  } else if (const fs::path jinja = fs::path(hf_dir) / "chat_template.jinja"; fs::exists(jinja)) {
    std::ifstream in(jinja, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    md.emplace_back("tokenizer.chat_template", GgufValue::string(ss.str()));
  }
  return md;
}

}  // namespace glmq
