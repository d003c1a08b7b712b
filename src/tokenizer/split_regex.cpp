#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/split_regex.h"

#include <pcre2.h>

#include "core/error.h"

namespace glmq {
namespace {

// Unicode White_Space, which is what Oniguruma's and Rust regex's \s mean; PCRE2's \s lacks U+0085.
constexpr std::string_view kWhiteSpaceItems =
    "\\x{09}-\\x{0D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";
// Oniguruma's Unicode \w: letters, marks, decimal digits, connector punctuation.
constexpr std::string_view kWordItems = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

std::string translate_oniguruma_pattern(const std::string& pattern, const std::string& what) {
  std::string out;
  out.reserve(pattern.size() + 64);
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      const bool negated = e == 'S' || e == 'W';
      const std::string_view items = (e == 's' || e == 'S') ? kWhiteSpaceItems
                                     : (e == 'w' || e == 'W') ? kWordItems
                                                              : std::string_view{};
      if (items.empty()) {
        out.push_back('\\');
        out.push_back(e);
      } else if (in_class && negated) {
        fail(ErrorKind::Config, what + ": pattern uses \\" + std::string(1, e) +
                                    " inside a character class, which glmq cannot translate exactly");
      } else if (in_class) {
        out.append(items);
      } else {
        out.append(negated ? "[^" : "[");
        out.append(items);
        out.push_back(']');
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out.push_back(c);
      // A ']' or '^]' right after '[' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out.push_back(pattern[++i]);
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out.push_back(pattern[++i]);
      continue;
    }
    if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
      const auto close = pattern.find(":]", i + 2);
      if (close == std::string::npos) fail(ErrorKind::Config, what + ": unterminated POSIX class in pattern");
      out.append(pattern, i, close + 2 - i);
      i = close + 1;
      continue;
    }
    if (in_class && c == '[') {
      fail(ErrorKind::Config, what + ": nested character classes are not supported in patterns");
    }
    if (in_class && c == ']') in_class = false;
    out.push_back(c);
  }
  return out;
}

namespace {

// Match blocks and JIT stacks cannot be shared by concurrent matches, so each thread owns one of
// each; they serve every pattern (the ovector size only limits capture groups, which glmq ignores).
struct ThreadMatchState {
  pcre2_match_data* data = pcre2_match_data_create(4, nullptr);
  // Long runs of one class (megabytes of spaces) backtrack deeply; give the JIT room.
  pcre2_jit_stack* jit_stack = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, nullptr);
  ~ThreadMatchState() {
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_data_free(data);
  }
};

ThreadMatchState& thread_match_state() {
  thread_local ThreadMatchState state;
  return state;
}

pcre2_jit_stack* thread_jit_stack(void*) { return thread_match_state().jit_stack; }

}  // namespace

struct SplitRegex::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
  pcre2_match_context* context = nullptr;

  int match(std::string_view text, std::size_t start) const {
    pcre2_match_data* md = thread_match_state().data;
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    const int rc = jit ? pcre2_jit_match(code, subject, text.size(), start, 0, md, context)
                       : pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
      fail(ErrorKind::Capacity, "tokenizer pattern failed: " + pcre2_message(rc));
    }
    return rc;
  }
  const PCRE2_SIZE* ovector() const { return pcre2_get_ovector_pointer(thread_match_state().data); }
};

SplitRegex::SplitRegex(const std::string& pattern, bool literal, const std::string& what) : impl_(new Impl) {
  const std::string source = literal ? pattern : translate_oniguruma_pattern(pattern, what);
  int error = 0;
  PCRE2_SIZE offset = 0;
  const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : 0u);
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(), options, &error, &offset,
                              nullptr);
  if (impl_->code == nullptr) {
    fail(ErrorKind::Config, what + ": cannot compile pattern at offset " + std::to_string(offset) + ": " +
                                pcre2_message(error) + " (pattern " + pattern + ")");
  }
  impl_->jit = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;
  if (impl_->jit) {
    impl_->context = pcre2_match_context_create(nullptr);
    pcre2_jit_stack_assign(impl_->context, thread_jit_stack, nullptr);
  }
}

SplitRegex::~SplitRegex() {
  pcre2_match_context_free(impl_->context);
  pcre2_code_free(impl_->code);
}

void SplitRegex::find_all(std::string_view text, std::vector<MatchSpan>& out) const {
  std::size_t start = 0;
  while (start < text.size()) {
    if (impl_->match(text, start) == PCRE2_ERROR_NOMATCH) return;
    const PCRE2_SIZE* ov = impl_->ovector();
    const std::size_t b = ov[0], e = ov[1];
    if (e > b) {
      out.push_back({b, e});
      start = e;
    } else {
      // Empty matches produce no piece; step over one whole character.
      start = b + 1;
      while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
    }
  }
}

bool SplitRegex::search(std::string_view text) const { return impl_->match(text, 0) != PCRE2_ERROR_NOMATCH; }

}  // namespace glmq
