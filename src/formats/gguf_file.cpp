#include "formats/gguf_file.h"

#include <cstring>
#include <limits>

#include "core/error.h"
#include "formats/ggml_types.h"

namespace glmq {

namespace {

constexpr std::uint64_t kMaxStringLength = 1ull << 30;   // llama.cpp's GGUF_MAX_STRING_LENGTH
constexpr std::uint64_t kMaxArrayElements = 1ull << 30;  // GGUF_MAX_ARRAY_ELEMENTS
constexpr std::uint32_t kMaxDims = 4;

// Bounds-checked little-endian reads over the file bytes; every failure names the file and the byte offset.
class Cursor {
 public:
  Cursor(const std::uint8_t* data, std::size_t size, const std::string& what) : data_(data), size_(size), what_(what) {}

  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return size_ - pos_; }

  [[noreturn]] void error(const std::string& message) const {
    fail(ErrorKind::Format, what_ + ": " + message + " (at byte " + std::to_string(pos_) + " of " + std::to_string(size_) + ")");
  }

  void need(std::uint64_t n, const char* field) const {
    if (n > remaining())
      error(std::string("truncated: ") + field + " needs " + std::to_string(n) + " bytes, " + std::to_string(remaining()) +
            " remain");
  }

  template <typename T>
  T read(const char* field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::vector<std::uint8_t> bytes(std::uint64_t n, const char* field) {
    need(n, field);
    std::vector<std::uint8_t> b(data_ + pos_, data_ + pos_ + n);
    pos_ += static_cast<std::size_t>(n);
    return b;
  }

  std::string string(const char* field) {
    const auto len = read<std::uint64_t>(field);
    if (len > kMaxStringLength) error(std::string(field) + " has length " + std::to_string(len) + ", more than 1 GiB");
    need(len, field);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<std::size_t>(len));
    pos_ += static_cast<std::size_t>(len);
    return s;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  const std::string& what_;
};

GgufType value_type(Cursor& c, const std::string& key, bool element) {
  const auto t = c.read<std::uint32_t>("value type");
  if (t > static_cast<std::uint32_t>(GgufType::F64) || (element && t == static_cast<std::uint32_t>(GgufType::ARRAY)))
    c.error("key '" + key + "' has " + (element ? "array element " : "value ") + "type " + std::to_string(t) +
            ", expected 0-12" + (element ? " other than 9 (arrays of arrays are not allowed)" : ""));
  return static_cast<GgufType>(t);
}

GgufValue read_value(Cursor& c, const std::string& key) {
  GgufType type = value_type(c, key, false);
  bool is_array = false;
  std::uint64_t count = 1;
  if (type == GgufType::ARRAY) {
    is_array = true;
    type = value_type(c, key, true);
    count = c.read<std::uint64_t>("array length");
    if (count > kMaxArrayElements)
      c.error("key '" + key + "' is an array of " + std::to_string(count) + " elements, more than 2^30");
  }
  if (type == GgufType::STRING) {
    c.need(count * 8, "string array");  // each string has at least its 8-byte length
    std::vector<std::string> v;
    v.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) v.push_back(c.string("string value"));
    return is_array ? GgufValue::string_array(std::move(v)) : GgufValue::string(std::move(v[0]));
  }
  return GgufValue::numeric(type, is_array, c.bytes(count * gguf_type_size(type), "value"));
}

std::size_t pad_to(std::size_t x, std::size_t alignment) { return (x + alignment - 1) / alignment * alignment; }

}  // namespace

std::int64_t GgufTensor::numel() const {
  std::int64_t n = 1;
  for (auto d : ne) n *= d;
  return n;
}

GgufFile::GgufFile(const std::string& path) : path_(path), map_(std::make_unique<MappedFile>(path)) {
  parse(map_->data(), map_->size());
}

GgufFile::GgufFile(const std::uint8_t* data, std::size_t size, std::string what) : path_(std::move(what)) { parse(data, size); }

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufValue& GgufFile::get(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail(ErrorKind::Config, path_ + ": GGUF metadata key '" + key + "' is missing");
  return *v;
}

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

void GgufFile::parse(const std::uint8_t* data, std::size_t size) {
  size_ = size;
  Cursor c(data, size, path_);
  if (size < 24) c.error("not a GGUF file: " + std::to_string(size) + " bytes, a GGUF header needs 24");
  const auto magic = c.read<std::uint32_t>("magic");
  if (magic != kGgufMagic) c.error("not a GGUF file: the magic is not 'GGUF'");
  version_ = c.read<std::uint32_t>("version");
  if ((version_ & 0xFFFF) == 0)
    c.error("version " + std::to_string(version_) + " looks byte-swapped: big-endian GGUF files are not supported");
  if (version_ == 1) c.error("GGUF version 1 is no longer supported (64-bit counts came with version 2)");
  if (version_ != 2 && version_ != 3) c.error("GGUF version " + std::to_string(version_) + " is not supported (2 or 3)");
  const auto n_tensors = c.read<std::int64_t>("tensor count");
  const auto n_kv = c.read<std::int64_t>("metadata count");
  // A KV record takes at least 13 bytes and a tensor info at least 24, so larger counts cannot fit the file.
  if (n_kv < 0 || static_cast<std::uint64_t>(n_kv) > c.remaining() / 13)
    c.error("metadata count " + std::to_string(n_kv) + " is impossible for a file of this size");
  if (n_tensors < 0 || static_cast<std::uint64_t>(n_tensors) > c.remaining() / 24)
    c.error("tensor count " + std::to_string(n_tensors) + " is impossible for a file of this size");

  for (std::int64_t i = 0; i < n_kv; ++i) {
    std::string key = c.string("metadata key");
    if (key.empty()) c.error("metadata key " + std::to_string(i) + " is empty");
    if (key_index_.count(key)) c.error("metadata key '" + key + "' appears twice");
    GgufValue value = read_value(c, key);
    key_index_[key] = metadata_.size();
    metadata_.emplace_back(std::move(key), std::move(value));
  }
  if (const GgufValue* a = find("general.alignment")) {
    if (a->type() != GgufType::U32)
      c.error(std::string("general.alignment must be UINT32, found ") + gguf_type_name(a->type()));
    const auto v = static_cast<std::size_t>(a->as_int("general.alignment"));
    if (v == 0 || (v & (v - 1)) != 0) c.error("general.alignment " + std::to_string(v) + " is not a power of two");
    alignment_ = v;
  }

  tensors_.reserve(static_cast<std::size_t>(n_tensors));
  for (std::int64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    t.name = c.string("tensor name");
    if (t.name.empty() || t.name.size() > kGgufMaxNameLength)
      c.error("tensor name '" + t.name.substr(0, 80) + "' has length " + std::to_string(t.name.size()) + ", expected 1-63");
    if (tensor_index_.count(t.name)) c.error("tensor '" + t.name + "' appears twice");
    const auto n_dims = c.read<std::uint32_t>("tensor dimension count");
    if (n_dims > kMaxDims) c.error("tensor '" + t.name + "' has " + std::to_string(n_dims) + " dimensions, at most 4 allowed");
    std::int64_t numel = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const auto n = c.read<std::int64_t>("tensor dimension");
      if (n < 0) c.error("tensor '" + t.name + "' has negative dimension " + std::to_string(n));
      if (n > 0 && numel > std::numeric_limits<std::int64_t>::max() / n)
        c.error("tensor '" + t.name + "' has more elements than fit in 64 bits");
      numel *= n;
      t.ne.push_back(n);
    }
    t.ggml_type = c.read<std::uint32_t>("tensor type");
    const auto info = ggml_type_info(t.ggml_type);
    if (!info) c.error("tensor '" + t.name + "' has unknown ggml type id " + std::to_string(t.ggml_type));
    if (t.dim(0) % info->block_size != 0)
      c.error("tensor '" + t.name + "' of type " + info->name + " has rows of " + std::to_string(t.dim(0)) +
              " elements, not a multiple of its block size " + std::to_string(info->block_size));
    const std::uint64_t blocks = static_cast<std::uint64_t>(numel / info->block_size);
    if (blocks > std::numeric_limits<std::uint64_t>::max() / 2 / info->block_bytes)
      c.error("tensor '" + t.name + "' is too large");
    t.nbytes = static_cast<std::size_t>(blocks * info->block_bytes);
    t.offset = c.read<std::uint64_t>("tensor offset");
    tensor_index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }

  data_offset_ = pad_to(c.pos(), alignment_);
  // llama.cpp requires each tensor at exactly the running sum of the padded sizes before it, in info order.
  std::uint64_t expected = 0;
  for (auto& t : tensors_) {
    if (t.offset != expected)
      c.error("tensor '" + t.name + "' has data offset " + std::to_string(t.offset) + ", expected " + std::to_string(expected) +
              " (tensors must be stored in order, each padded to the alignment " + std::to_string(alignment_) + ")");
    if (data_offset_ > size || t.offset > size - data_offset_ || t.nbytes > size - data_offset_ - t.offset)
      c.error("tensor '" + t.name + "' (" + std::to_string(t.nbytes) + " bytes at data offset " + std::to_string(t.offset) +
              ") lies past the end of the file: the file is truncated or corrupt");
    t.data = data + data_offset_ + t.offset;
    expected += pad_to(t.nbytes, alignment_);
  }
}

}  // namespace glmq
