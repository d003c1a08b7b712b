#pragma once
// A GGUF metadata value (shared/docs/quant_gguf.md §1.2): a scalar or a one-level array of one of the 13 GGUF
// value types. Numbers are kept as their little-endian bytes so any width reads back exactly and writes out
// unchanged; strings are kept decoded.
#include <cstdint>
#include <string>
#include <vector>

namespace glmq {

enum class GgufType : std::uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

const char* gguf_type_name(GgufType type);
// Bytes of one element of a numeric or bool type; 0 for STRING and ARRAY.
std::size_t gguf_type_size(GgufType type);
bool gguf_type_is_integer(GgufType type);

class GgufValue {
 public:
  GgufValue() = default;
  static GgufValue u8(std::uint8_t v);
  static GgufValue u16(std::uint16_t v);
  static GgufValue u32(std::uint32_t v);
  static GgufValue i32(std::int32_t v);
  static GgufValue u64(std::uint64_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  static GgufValue string_array(std::vector<std::string> v);
  static GgufValue i32_array(const std::vector<std::int32_t>& v);
  static GgufValue f32_array(const std::vector<float>& v);
  static GgufValue bool_array(const std::vector<bool>& v);
  // Raw form as the reader builds it: `bytes` holds count × element size little-endian bytes.
  static GgufValue numeric(GgufType type, bool is_array, std::vector<std::uint8_t> bytes);

  GgufType type() const { return is_array_ ? GgufType::ARRAY : type_; }
  GgufType element_type() const { return type_; }  // the scalar type, or the array's element type
  bool is_array() const { return is_array_; }
  std::size_t size() const;  // elements (1 for a scalar)

  // Checked accessors: `key` names the value in the error (ErrorKind::Config) when the type does not fit.
  // Integers of any width and sign convert when the value fits; floats accept F32/F64 and integers.
  std::int64_t as_int(const std::string& key) const;
  double as_double(const std::string& key) const;
  bool as_bool(const std::string& key) const;
  const std::string& as_string(const std::string& key) const;
  std::vector<std::int64_t> as_int_array(const std::string& key) const;
  std::vector<double> as_double_array(const std::string& key) const;
  std::vector<bool> as_bool_array(const std::string& key) const;  // BOOL, or integers (non-zero = true)
  const std::vector<std::string>& as_string_array(const std::string& key) const;

  const std::vector<std::uint8_t>& raw_bytes() const { return bytes_; }
  const std::vector<std::string>& strings() const { return strings_; }

 private:
  std::int64_t int_at(std::size_t i, const std::string& key) const;
  double double_at(std::size_t i, const std::string& key) const;

  GgufType type_ = GgufType::U8;
  bool is_array_ = false;
  std::vector<std::uint8_t> bytes_;
  std::vector<std::string> strings_;
};

}  // namespace glmq
