#pragma once
// Helpers shared by the tokenizer tests: paths, file reading, hex and the id-list fingerprint
// that make_golden.py stores.
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace glmq::test {

inline std::string shared_path(const std::string& rel) { return std::string(GLMQ_SHARED_DIR) + "/" + rel; }
inline std::string golden_path(const std::string& name) { return std::string(GLMQ_TOKENIZER_GOLDEN_DIR) + "/" + name; }
inline std::string mini_model_dir() { return shared_path("models/glm-mini"); }

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline nlohmann::ordered_json read_golden(const std::string& name) {
  return nlohmann::ordered_json::parse(read_bytes(golden_path(name)));
}

inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// FNV-1a 64 over the ids as little-endian uint32, printed as 16 hex digits (as make_golden.py).
class IdFingerprint {
 public:
  void add(uint32_t id) {
    for (int k = 0; k < 4; ++k) {
      hash_ ^= (id >> (8 * k)) & 0xFF;
      hash_ *= 0x100000001B3ull;
    }
  }
  void add(const std::vector<uint32_t>& ids) {
    for (uint32_t id : ids) add(id);
  }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(hash_));
    return buf;
  }

 private:
  uint64_t hash_ = 0xCBF29CE484222325ull;
};

}  // namespace glmq::test
