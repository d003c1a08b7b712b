#include "formats/gguf_value.h"

#include <cstring>
#include <limits>

#include "core/error.h"

namespace glmq {

const char* gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::U8: return "UINT8";
    case GgufType::I8: return "INT8";
    case GgufType::U16: return "UINT16";
    case GgufType::I16: return "INT16";
    case GgufType::U32: return "UINT32";
    case GgufType::I32: return "INT32";
    case GgufType::F32: return "FLOAT32";
    case GgufType::BOOL: return "BOOL";
    case GgufType::STRING: return "STRING";
    case GgufType::ARRAY: return "ARRAY";
    case GgufType::U64: return "UINT64";
    case GgufType::I64: return "INT64";
    case GgufType::F64: return "FLOAT64";
  }
  return "?";
}

std::size_t gguf_type_size(GgufType type) {
  switch (type) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::BOOL: return 1;
    case GgufType::U16:
    case GgufType::I16: return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32: return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64: return 8;
    case GgufType::STRING:
    case GgufType::ARRAY: return 0;
  }
  return 0;
}

bool gguf_type_is_integer(GgufType type) {
  switch (type) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::U16:
    case GgufType::I16:
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::U64:
    case GgufType::I64: return true;
    default: return false;
  }
}

namespace {
template <typename T>
GgufValue scalar(GgufType type, T v) {
  std::vector<std::uint8_t> b(sizeof(T));
  std::memcpy(b.data(), &v, sizeof(T));
  return GgufValue::numeric(type, false, std::move(b));
}
template <typename T, typename S>
GgufValue array(GgufType type, const std::vector<S>& v) {
  std::vector<std::uint8_t> b(v.size() * sizeof(T));
  for (std::size_t i = 0; i < v.size(); ++i) {
    const T x = static_cast<T>(v[i]);
    std::memcpy(b.data() + i * sizeof(T), &x, sizeof(T));
  }
  return GgufValue::numeric(type, true, std::move(b));
}
template <typename T>
T load(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
[[noreturn]] void wrong_type(const std::string& key, const char* wanted, const GgufValue& v) {
  fail(ErrorKind::Config, "GGUF key '" + key + "': expected " + wanted + ", found " +
                              (v.is_array() ? std::string("ARRAY of ") + gguf_type_name(v.element_type())
                                            : std::string(gguf_type_name(v.element_type()))));
}
}  // namespace

GgufValue GgufValue::u8(std::uint8_t v) { return scalar(GgufType::U8, v); }
GgufValue GgufValue::u16(std::uint16_t v) { return scalar(GgufType::U16, v); }
GgufValue GgufValue::u32(std::uint32_t v) { return scalar(GgufType::U32, v); }
GgufValue GgufValue::i32(std::int32_t v) { return scalar(GgufType::I32, v); }
GgufValue GgufValue::u64(std::uint64_t v) { return scalar(GgufType::U64, v); }
GgufValue GgufValue::f32(float v) { return scalar(GgufType::F32, v); }
GgufValue GgufValue::boolean(bool v) { return scalar(GgufType::BOOL, static_cast<std::uint8_t>(v ? 1 : 0)); }
GgufValue GgufValue::string(std::string v) {
  GgufValue r;
  r.type_ = GgufType::STRING;
  r.strings_.push_back(std::move(v));
  return r;
}
GgufValue GgufValue::string_array(std::vector<std::string> v) {
  GgufValue r;
  r.type_ = GgufType::STRING;
  r.is_array_ = true;
  r.strings_ = std::move(v);
  return r;
}
GgufValue GgufValue::i32_array(const std::vector<std::int32_t>& v) { return array<std::int32_t>(GgufType::I32, v); }
GgufValue GgufValue::f32_array(const std::vector<float>& v) { return array<float>(GgufType::F32, v); }
GgufValue GgufValue::bool_array(const std::vector<bool>& v) { return array<std::uint8_t>(GgufType::BOOL, v); }
GgufValue GgufValue::numeric(GgufType type, bool is_array, std::vector<std::uint8_t> bytes) {
  GgufValue r;
  r.type_ = type;
  r.is_array_ = is_array;
  r.bytes_ = std::move(bytes);
  return r;
}

std::size_t GgufValue::size() const {
  if (type_ == GgufType::STRING) return strings_.size();
  return bytes_.size() / gguf_type_size(type_);
}

std::int64_t GgufValue::int_at(std::size_t i, const std::string& key) const {
  const std::uint8_t* p = bytes_.data() + i * gguf_type_size(type_);
  switch (type_) {
    case GgufType::U8: return load<std::uint8_t>(p);
    case GgufType::I8: return load<std::int8_t>(p);
    case GgufType::U16: return load<std::uint16_t>(p);
    case GgufType::I16: return load<std::int16_t>(p);
    case GgufType::U32: return load<std::uint32_t>(p);
    case GgufType::I32: return load<std::int32_t>(p);
    case GgufType::I64: return load<std::int64_t>(p);
    case GgufType::U64: {
      const auto v = load<std::uint64_t>(p);
      if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        fail(ErrorKind::Config, "GGUF key '" + key + "': value " + std::to_string(v) + " is out of range");
      return static_cast<std::int64_t>(v);
    }
    default: wrong_type(key, "an integer", *this);
  }
}

double GgufValue::double_at(std::size_t i, const std::string& key) const {
  const std::uint8_t* p = bytes_.data() + i * gguf_type_size(type_);
  if (type_ == GgufType::F32) return load<float>(p);
  if (type_ == GgufType::F64) return load<double>(p);
  if (gguf_type_is_integer(type_)) return static_cast<double>(int_at(i, key));
  wrong_type(key, "a number", *this);
}

std::int64_t GgufValue::as_int(const std::string& key) const {
  if (is_array_ || !gguf_type_is_integer(type_)) wrong_type(key, "an integer", *this);
  return int_at(0, key);
}
double GgufValue::as_double(const std::string& key) const {
  if (is_array_ || type_ == GgufType::STRING || type_ == GgufType::BOOL) wrong_type(key, "a number", *this);
  return double_at(0, key);
}
bool GgufValue::as_bool(const std::string& key) const {
  if (is_array_ || type_ != GgufType::BOOL) wrong_type(key, "BOOL", *this);
  return bytes_[0] != 0;
}
const std::string& GgufValue::as_string(const std::string& key) const {
  if (is_array_ || type_ != GgufType::STRING) wrong_type(key, "STRING", *this);
  return strings_[0];
}
std::vector<std::int64_t> GgufValue::as_int_array(const std::string& key) const {
  if (!is_array_ || !gguf_type_is_integer(type_)) wrong_type(key, "an ARRAY of integers", *this);
  std::vector<std::int64_t> out(size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = int_at(i, key);
  return out;
}
std::vector<double> GgufValue::as_double_array(const std::string& key) const {
  if (!is_array_ || type_ == GgufType::STRING || type_ == GgufType::BOOL) wrong_type(key, "an ARRAY of numbers", *this);
  std::vector<double> out(size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = double_at(i, key);
  return out;
}
std::vector<bool> GgufValue::as_bool_array(const std::string& key) const {
  if (!is_array_ || !(type_ == GgufType::BOOL || gguf_type_is_integer(type_))) wrong_type(key, "an ARRAY of BOOL", *this);
  std::vector<bool> out(size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = type_ == GgufType::BOOL ? bytes_[i] != 0 : int_at(i, key) != 0;
  return out;
}
const std::vector<std::string>& GgufValue::as_string_array(const std::string& key) const {
  if (!is_array_ || type_ != GgufType::STRING) wrong_type(key, "an ARRAY of STRING", *this);
  return strings_;
}

}  // namespace glmq
