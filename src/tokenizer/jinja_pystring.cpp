#include "tokenizer/jinja_pystring.h"

#include <clocale>
#include <cwctype>
#include <locale.h>

#include "tokenizer/jinja_value.h"
#include "tokenizer/utf8.h"

namespace glmq::jinja::pystr {
namespace {

// Case mapping beyond ASCII comes from the C library's Unicode tables (a locale object, so the
// process locale is untouched). Where it has none the character stays as it is.
locale_t unicode_locale() {
  static locale_t loc = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    return l;
  }();
  return loc;
}

char32_t to_upper(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  locale_t loc = unicode_locale();
  return loc ? static_cast<char32_t>(towupper_l(static_cast<wint_t>(c), loc)) : c;
}

char32_t to_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  locale_t loc = unicode_locale();
  return loc ? static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), loc)) : c;
}

bool is_cased_letter(char32_t c) { return to_upper(c) != c || to_lower(c) != c; }

}  // namespace

bool is_space(char32_t c) { return utf8::is_white_space(c) || (c >= 0x1C && c <= 0x1F); }

bool is_alpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  locale_t loc = unicode_locale();
  return loc && iswalpha_l(static_cast<wint_t>(c), loc);
}

bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_alnum(char32_t c) { return is_alpha(c) || is_digit(c); }

std::u32string to_u32(const std::string& s) {
  std::u32string out;
  std::size_t pos = 0;
  while (pos < s.size()) out.push_back(utf8::decode(s, pos));
  return out;
}

std::string from_u32(const std::u32string& s) {
  std::string out;
  for (char32_t c : s) utf8::append(out, c);
  return out;
}

std::string strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right) {
  const std::u32string u = to_u32(s);
  const std::u32string set = chars ? to_u32(*chars) : std::u32string();
  auto strippable = [&](char32_t c) { return chars ? set.find(c) != std::u32string::npos : is_space(c); };
  std::size_t b = 0, e = u.size();
  if (left) {
    while (b < e && strippable(u[b])) ++b;
  }
  if (right) {
    while (e > b && strippable(u[e - 1])) --e;
  }
  return from_u32(u.substr(b, e - b));
}

std::vector<std::string> split(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) render_error("split(): empty separator");
    std::size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      const std::size_t at = s.find(*sep, start);
      if (at == std::string::npos) break;
      out.push_back(s.substr(start, at - start));
      start = at + sep->size();
    }
    out.push_back(s.substr(start));
    return out;
  }
  const std::u32string u = to_u32(s);
  std::size_t i = 0;
  while (true) {
    while (i < u.size() && is_space(u[i])) ++i;
    if (i >= u.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
      std::size_t e = u.size();
      while (e > i && is_space(u[e - 1])) --e;
      out.push_back(from_u32(u.substr(i, e - i)));
      break;
    }
    std::size_t j = i;
    while (j < u.size() && !is_space(u[j])) ++j;
    out.push_back(from_u32(u.substr(i, j - i)));
    i = j;
  }
  return out;
}

std::vector<std::string> rsplit(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit) {
  if (maxsplit < 0) return split(s, sep, maxsplit);
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) render_error("rsplit(): empty separator");
    std::size_t end = s.size();
    while (static_cast<int64_t>(out.size()) < maxsplit) {
      if (end < sep->size()) break;
      const std::size_t at = s.rfind(*sep, end - sep->size());
      if (at == std::string::npos) break;
      out.insert(out.begin(), s.substr(at + sep->size(), end - at - sep->size()));
      end = at;
    }
    out.insert(out.begin(), s.substr(0, end));
    return out;
  }
  const std::u32string u = to_u32(s);
  std::size_t e = u.size();
  while (true) {
    while (e > 0 && is_space(u[e - 1])) --e;
    if (e == 0) break;
    if (static_cast<int64_t>(out.size()) >= maxsplit) {
      std::size_t b = 0;
      while (b < e && is_space(u[b])) ++b;
      out.insert(out.begin(), from_u32(u.substr(b, e - b)));
      break;
    }
    std::size_t b = e;
    while (b > 0 && !is_space(u[b - 1])) --b;
    out.insert(out.begin(), from_u32(u.substr(b, e - b)));
    e = b;
  }
  return out;
}

std::vector<std::string> splitlines(const std::string& s, bool keepends) {
  const std::u32string u = to_u32(s);
  std::vector<std::string> out;
  std::size_t start = 0, i = 0;
  auto is_break = [](char32_t c) {
    return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 ||
           c == 0x2028 || c == 0x2029;
  };
  while (i < u.size()) {
    if (!is_break(u[i])) {
      ++i;
      continue;
    }
    std::size_t end = i;
    std::size_t next = (u[i] == '\r' && i + 1 < u.size() && u[i + 1] == '\n') ? i + 2 : i + 1;
    out.push_back(from_u32(u.substr(start, (keepends ? next : end) - start)));
    start = i = next;
  }
  if (start < u.size()) out.push_back(from_u32(u.substr(start)));
  return out;
}

std::string replace(const std::string& s, const std::string& old, const std::string& replacement, int64_t count_limit) {
  std::string out;
  if (old.empty()) {
    // Python inserts the replacement between every character (and at both ends).
    const std::u32string u = to_u32(s);
    int64_t done = 0;
    for (char32_t c : u) {
      if (count_limit < 0 || done < count_limit) {
        out += replacement;
        ++done;
      }
      utf8::append(out, c);
    }
    if (count_limit < 0 || done < count_limit) out += replacement;
    return out;
  }
  std::size_t start = 0;
  int64_t done = 0;
  while (count_limit < 0 || done < count_limit) {
    const std::size_t at = s.find(old, start);
    if (at == std::string::npos) break;
    out.append(s, start, at - start);
    out += replacement;
    start = at + old.size();
    ++done;
  }
  out.append(s, start, std::string::npos);
  return out;
}

std::string upper(const std::string& s) {
  std::u32string u = to_u32(s);
  for (char32_t& c : u) c = to_upper(c);
  return from_u32(u);
}

std::string lower(const std::string& s) {
  std::u32string u = to_u32(s);
  for (char32_t& c : u) c = to_lower(c);
  return from_u32(u);
}

std::string capitalize(const std::string& s) {
  std::u32string u = to_u32(s);
  for (std::size_t i = 0; i < u.size(); ++i) u[i] = i == 0 ? to_upper(u[i]) : to_lower(u[i]);
  return from_u32(u);
}

std::string title(const std::string& s) {
  std::u32string u = to_u32(s);
  bool previous_cased = false;
  for (char32_t& c : u) {
    const bool cased = is_cased_letter(c);
    c = cased ? (previous_cased ? to_lower(c) : to_upper(c)) : c;
    previous_cased = cased;
  }
  return from_u32(u);
}

int64_t count(const std::string& s, const std::string& sub) {
  if (sub.empty()) return static_cast<int64_t>(utf8::count_code_points(s)) + 1;
  int64_t n = 0;
  std::size_t start = 0;
  while ((start = s.find(sub, start)) != std::string::npos) {
    ++n;
    start += sub.size();
  }
  return n;
}

int64_t find(const std::string& s, const std::string& sub, bool from_right) {
  const std::size_t at = from_right ? s.rfind(sub) : s.find(sub);
  if (at == std::string::npos) return -1;
  return static_cast<int64_t>(utf8::count_code_points(std::string_view(s).substr(0, at)));
}

bool all_chars(const std::string& s, bool (*predicate)(char32_t)) {
  if (s.empty()) return false;
  std::size_t pos = 0;
  while (pos < s.size()) {
    if (!predicate(utf8::decode(s, pos))) return false;
  }
  return true;
}

std::vector<int64_t> slice_indices(int64_t length, std::optional<int64_t> start, std::optional<int64_t> stop,
                                   std::optional<int64_t> step) {
  const int64_t st = step.value_or(1);
  if (st == 0) render_error("slice step cannot be zero");
  auto clamp = [&](std::optional<int64_t> v, int64_t fallback, int64_t lo, int64_t hi) {
    if (!v) return fallback;
    int64_t x = *v < 0 ? *v + length : *v;
    return std::max(lo, std::min(hi, x));
  };
  std::vector<int64_t> out;
  if (st > 0) {
    const int64_t b = clamp(start, 0, 0, length), e = clamp(stop, length, 0, length);
    for (int64_t i = b; i < e; i += st) out.push_back(i);
  } else {
    const int64_t b = clamp(start, length - 1, -1, length - 1), e = clamp(stop, -1, -1, length - 1);
    for (int64_t i = b; i > e; i += st) out.push_back(i);
  }
  return out;
}

}  // namespace glmq::jinja::pystr
