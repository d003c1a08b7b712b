#include "tokenizer/normalizer.h"

#include "core/error.h"
#include "tokenizer/split_regex.h"
#include "tokenizer/utf8.h"

namespace glmq {
namespace {

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void apply(std::string& text) const override {
    for (const auto& step : steps_) step->apply(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(const std::string& pattern, bool literal, std::string content, const std::string& what)
      : regex_(pattern, literal, what), content_(std::move(content)) {}
  void apply(std::string& text) const override {
    std::vector<MatchSpan> spans;
    regex_.find_all(text, spans);
    if (spans.empty()) return;
    std::string out;
    std::size_t last = 0;
    for (const MatchSpan& m : spans) {
      out.append(text, last, m.begin - last);
      out.append(content_);
      last = m.end;
    }
    out.append(text, last, std::string::npos);
    text = std::move(out);
  }

 private:
  SplitRegex regex_;
  std::string content_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void apply(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void apply(std::string& text) const override {
    std::size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        std::size_t pos = begin;
        if (!utf8::is_white_space(utf8::decode(text, pos))) break;
        begin = pos;
      }
    }
    if (right_) {
      while (end > begin) {
        std::size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        std::size_t pos = start;
        if (!utf8::is_white_space(utf8::decode(text, pos))) break;
        end = start;
      }
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Json& spec, const std::string& what) {
  if (spec.is_null()) return nullptr;
  const std::string type = spec.value("type", "");
  const std::string where = what + ": normalizer " + type;
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (const Json& step : spec.at("normalizers")) {
      if (auto n = make_normalizer(step, what)) steps.push_back(std::move(n));
    }
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  if (type == "Replace") {
    const Json& pattern = spec.at("pattern");
    if (pattern.contains("String")) {
      return std::make_unique<ReplaceNormalizer>(pattern["String"].get<std::string>(), true,
                                                 spec.at("content").get<std::string>(), where);
    }
    if (pattern.contains("Regex")) {
      return std::make_unique<ReplaceNormalizer>(pattern["Regex"].get<std::string>(), false,
                                                 spec.at("content").get<std::string>(), where);
    }
    fail(ErrorKind::Config, where + ": expected pattern {\"String\"} or {\"Regex\"}, found " + pattern.dump());
  }
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(spec.at("prepend").get<std::string>());
  if (type == "Strip") return std::make_unique<StripNormalizer>(spec.value("strip_left", true), spec.value("strip_right", true));
  fail(ErrorKind::Config, what + ": normalizer type \"" + type +
                              "\" is not supported (glmq supports Sequence, Replace, Prepend, Strip)");
}

}  // namespace glmq
