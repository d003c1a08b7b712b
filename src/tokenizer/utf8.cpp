#include "tokenizer/utf8.h"

namespace glmq::utf8 {

Sequence classify(std::string_view bytes, std::size_t pos) {
  const auto lead = static_cast<unsigned char>(bytes[pos]);
  if (lead < 0x80) return {SequenceKind::Valid, 1};
  std::size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte (excludes overlongs, surrogates, > U+10FFFF)
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return {SequenceKind::Invalid, 1};
  }
  std::size_t have = 1;
  while (have < need) {
    if (pos + have >= bytes.size()) return {SequenceKind::Truncated, have};
    const auto c = static_cast<unsigned char>(bytes[pos + have]);
    const bool ok = have == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
    if (!ok) return {SequenceKind::Invalid, have};
    ++have;
  }
  return {SequenceKind::Valid, need};
}

bool is_valid(std::string_view bytes) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    if (static_cast<unsigned char>(bytes[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const Sequence s = classify(bytes, pos);
    if (s.kind != SequenceKind::Valid) return false;
    pos += s.length;
  }
  return true;
}

std::string to_valid_lossy(std::string_view bytes) {
  if (is_valid(bytes)) return std::string(bytes);
  std::string out;
  out.reserve(bytes.size() + 8);
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const Sequence s = classify(bytes, pos);
    if (s.kind == SequenceKind::Valid) {
      out.append(bytes.substr(pos, s.length));
    } else {
      out.append(kReplacementChar);
    }
    pos += s.length;
  }
  return out;
}

char32_t decode(std::string_view valid, std::size_t& pos) {
  const auto lead = static_cast<unsigned char>(valid[pos]);
  auto cont = [&](std::size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(valid[pos + k]) & 0x3F); };
  char32_t cp;
  if (lead < 0x80) {
    cp = lead;
    pos += 1;
  } else if (lead < 0xE0) {
    cp = (static_cast<char32_t>(lead & 0x1F) << 6) | cont(1);
    pos += 2;
  } else if (lead < 0xF0) {
    cp = (static_cast<char32_t>(lead & 0x0F) << 12) | (cont(1) << 6) | cont(2);
    pos += 3;
  } else {
    cp = (static_cast<char32_t>(lead & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
    pos += 4;
  }
  return cp;
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::size_t count_code_points(std::string_view valid) {
  std::size_t n = 0;
  for (char c : valid) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

}  // namespace glmq::utf8
