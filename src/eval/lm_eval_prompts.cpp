#include "eval/lm_eval_prompts.h"

#include "core/error.h"

namespace glmq::eval {

namespace {
constexpr std::string_view kPythonWhitespace = " \t\n\r\v\f\x1c\x1d\x1e\x1f";

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  std::size_t pos = 0;
  for (std::size_t hit; (hit = text.find(from, pos)) != std::string_view::npos; pos = hit + from.size()) {
    out.append(text.substr(pos, hit - pos));
    out.append(to);
  }
  out.append(text.substr(pos));
  return out;
}

// re.sub(r"\[.*?\]", "", text): the shortest "[...]" from each "[", where "." does not match a newline.
std::string remove_bracket_spans(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '[') {
      std::size_t close = i + 1;
      while (close < text.size() && text[close] != ']' && text[close] != '\n') ++close;
      if (close < text.size() && text[close] == ']') {
        i = close + 1;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

MultipleChoiceDoc with_shared_context(const std::string& context, const std::vector<std::string>& choices, int gold) {
  MultipleChoiceDoc doc;
  doc.choices = choices;
  doc.gold = gold;
  for (const auto& choice : choices) doc.requests.push_back({context, kTargetDelimiter + choice});
  return doc;
}
}  // namespace

std::string python_strip(std::string_view text) {
  const std::size_t first = text.find_first_not_of(kPythonWhitespace);
  if (first == std::string_view::npos) return {};
  const std::size_t last = text.find_last_not_of(kPythonWhitespace);
  return std::string(text.substr(first, last - first + 1));
}

std::string python_rstrip(std::string_view text) {
  const std::size_t last = text.find_last_not_of(kPythonWhitespace);
  return last == std::string_view::npos ? std::string() : std::string(text.substr(0, last + 1));
}

std::string hellaswag_preprocess(std::string_view text) {
  std::string s = python_strip(text);
  s = replace_all(s, " [title]", ". ");
  s = remove_bracket_spans(s);
  return replace_all(s, "  ", " ");
}

MultipleChoiceDoc hellaswag_doc(const std::string& activity_label, const std::string& ctx,
                                const std::vector<std::string>& endings, int label) {
  std::vector<std::string> choices;
  for (const auto& ending : endings) choices.push_back(hellaswag_preprocess(ending));
  return with_shared_context(hellaswag_preprocess(activity_label + ": " + ctx), choices, label);
}

MultipleChoiceDoc piqa_doc(const std::string& goal, const std::string& sol1, const std::string& sol2, int label) {
  return with_shared_context("Question: " + goal + "\nAnswer:", {sol1, sol2}, label);
}

MultipleChoiceDoc winogrande_doc(const std::string& sentence, const std::string& option1, const std::string& option2,
                                 const std::string& answer) {
  const std::size_t blank = sentence.find('_');
  if (blank == std::string::npos)
    fail(ErrorKind::InvalidArgument, "winogrande sentence has no '_' blank: \"" + sentence + "\"");
  if (answer != "1" && answer != "2")
    fail(ErrorKind::InvalidArgument, "winogrande answer should be \"1\" or \"2\", found \"" + answer + "\"");
  MultipleChoiceDoc doc;
  const std::string target = python_strip(std::string_view(sentence).substr(blank + 1));
  for (const auto* option : {&option1, &option2}) {
    doc.choices.push_back(sentence.substr(0, blank) + *option);
    doc.requests.push_back({doc.choices.back(), kTargetDelimiter + target});
  }
  doc.gold = answer == "1" ? 0 : 1;
  return doc;
}

std::size_t utf8_length(std::string_view text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xc0) != 0x80 ? 1 : 0;
  return n;
}

}  // namespace glmq::eval
