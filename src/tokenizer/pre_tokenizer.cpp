#include "tokenizer/pre_tokenizer.h"

#include <algorithm>

#include "core/error.h"

namespace glmq {
namespace {

// The GPT-2 pattern ByteLevel uses when use_regex is true.
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const Json& spec, const std::string& where) {
  const std::string b = spec.value("behavior", "");
  if (b == "Removed") return Behavior::Removed;
  if (b == "Isolated") return Behavior::Isolated;
  if (b == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::MergedWithNext;
  if (b == "Contiguous") return Behavior::Contiguous;
  fail(ErrorKind::Config, where + ": behavior: expected Removed, Isolated, MergedWithPrevious, MergedWithNext or "
                                  "Contiguous, found \"" + b + "\"");
}

struct Segment {
  std::size_t begin, end;
  bool is_match;
};

// Cuts one piece at the regex matches, then groups the segments the way HF's SplitDelimiterBehavior does.
void split_piece(std::string_view piece, const SplitRegex& regex, Behavior behavior, bool invert,
                 std::vector<MatchSpan>& scratch, std::vector<std::string_view>& out) {
  scratch.clear();
  regex.find_all(piece, scratch);
  if (behavior == Behavior::Isolated && !invert) {
    // The hot path (GLM's Split): matches and the gaps between them are pieces of their own.
    std::size_t last = 0;
    for (const MatchSpan& m : scratch) {
      if (m.begin > last) out.push_back(piece.substr(last, m.begin - last));
      out.push_back(piece.substr(m.begin, m.end - m.begin));
      last = m.end;
    }
    if (last < piece.size()) out.push_back(piece.substr(last));
    return;
  }
  std::vector<Segment> segments;
  std::size_t last = 0;
  for (const MatchSpan& m : scratch) {
    if (m.begin > last) segments.push_back({last, m.begin, invert});
    segments.push_back({m.begin, m.end, !invert});
    last = m.end;
  }
  if (last < piece.size()) segments.push_back({last, piece.size(), invert});

  std::vector<Segment> grouped;
  switch (behavior) {
    case Behavior::Isolated:
      grouped = segments;
      break;
    case Behavior::Removed:
      for (const Segment& s : segments) {
        if (!s.is_match) grouped.push_back(s);
      }
      break;
    case Behavior::MergedWithPrevious: {
      bool previous_match = false;
      for (const Segment& s : segments) {
        if (s.is_match && !previous_match && !grouped.empty()) {
          grouped.back().end = s.end;
        } else {
          grouped.push_back(s);
        }
        previous_match = s.is_match;
      }
      break;
    }
    case Behavior::MergedWithNext: {
      bool previous_match = false;
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->is_match && !previous_match && !grouped.empty()) {
          grouped.back().begin = it->begin;
        } else {
          grouped.push_back(*it);
        }
        previous_match = it->is_match;
      }
      std::reverse(grouped.begin(), grouped.end());
      break;
    }
    case Behavior::Contiguous:
      for (const Segment& s : segments) {
        if (s.is_match && !grouped.empty() && grouped.back().is_match) {
          grouped.back().end = s.end;
        } else {
          grouped.push_back(s);
        }
      }
      break;
  }
  for (const Segment& s : grouped) {
    if (s.end > s.begin) out.push_back(piece.substr(s.begin, s.end - s.begin));
  }
}

class SplitStep final : public PreTokenizerStep {
 public:
  SplitStep(const Json& spec, const std::string& where)
      : regex_(pattern_of(spec, where), spec.at("pattern").contains("String"), where),
        behavior_(parse_behavior(spec, where)),
        invert_(spec.value("invert", false)) {}

  void apply(Pieces& pieces) const override {
    std::vector<std::string_view> out;
    out.reserve(pieces.views.size() * 4);
    std::vector<MatchSpan> scratch;
    for (std::string_view piece : pieces.views) split_piece(piece, regex_, behavior_, invert_, scratch, out);
    pieces.views = std::move(out);
  }

 private:
  static std::string pattern_of(const Json& spec, const std::string& where) {
    const Json& pattern = spec.at("pattern");
    if (pattern.contains("Regex")) return pattern["Regex"].get<std::string>();
    if (pattern.contains("String")) return pattern["String"].get<std::string>();
    fail(ErrorKind::Config, where + ": pattern: expected {\"Regex\": ...} or {\"String\": ...}, found " + pattern.dump());
  }
  SplitRegex regex_;
  Behavior behavior_;
  bool invert_;
};

class ByteLevelStep final : public PreTokenizerStep {
 public:
  ByteLevelStep(const Json& spec, const std::string& where)
      : add_prefix_space_(spec.value("add_prefix_space", true)) {
    if (spec.value("use_regex", true)) regex_ = std::make_unique<SplitRegex>(kGpt2Pattern, false, where);
  }

  void apply(Pieces& pieces) const override {
    if (add_prefix_space_) {
      for (std::string_view& piece : pieces.views) {
        if (piece.empty() || piece.front() == ' ') continue;
        std::string& prefixed = pieces.owned.emplace_back(1, ' ');
        prefixed.append(piece);
        piece = prefixed;
      }
    }
    if (!regex_) return;
    std::vector<std::string_view> out;
    std::vector<MatchSpan> scratch;
    for (std::string_view piece : pieces.views) split_piece(piece, *regex_, Behavior::Isolated, false, scratch, out);
    pieces.views = std::move(out);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<SplitRegex> regex_;
};

}  // namespace

PreTokenizer::PreTokenizer(const Json& spec, const std::string& what) {
  if (!spec.is_null()) add_step(spec, what);
}

void PreTokenizer::add_step(const Json& spec, const std::string& what) {
  if (!spec.is_object()) fail(ErrorKind::Format, what + ": pre_tokenizer: expected an object, found " + spec.dump());
  const std::string type = spec.value("type", "");
  const std::string where = what + ": pre_tokenizer " + type;
  if (type == "Sequence") {
    for (const Json& step : spec.at("pretokenizers")) add_step(step, what);
    return;
  }
  if (byte_level_) {
    fail(ErrorKind::Config, where + ": glmq needs ByteLevel to be the last pre-tokenizer, found " + type + " after it");
  }
  if (type == "Split") {
    steps_.push_back(std::make_unique<SplitStep>(spec, where));
  } else if (type == "ByteLevel") {
    steps_.push_back(std::make_unique<ByteLevelStep>(spec, where));
    byte_level_ = true;
  } else {
    fail(ErrorKind::Config, what + ": pre_tokenizer type \"" + type +
                                "\" is not supported (glmq supports Sequence, Split, ByteLevel)");
  }
}

void PreTokenizer::apply(Pieces& pieces) const {
  for (const auto& step : steps_) step->apply(pieces);
}

}  // namespace glmq
