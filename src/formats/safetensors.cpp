#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "core/json_file.h"

namespace glmq {

namespace {

struct DTypeInfo {
  const char* name;
  FileDType dtype;
  std::size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {"F64", FileDType::F64, 8},   {"F32", FileDType::F32, 4},   {"F16", FileDType::F16, 2},
    {"BF16", FileDType::BF16, 2}, {"I64", FileDType::I64, 8},   {"I32", FileDType::I32, 4},
    {"I16", FileDType::I16, 2},   {"I8", FileDType::I8, 1},     {"U8", FileDType::U8, 1},
    {"U16", FileDType::U16, 2},   {"U32", FileDType::U32, 4},   {"U64", FileDType::U64, 8},
    {"BOOL", FileDType::BOOL, 1}, {"F8_E4M3", FileDType::F8_E4M3, 1}, {"F8_E5M2", FileDType::F8_E5M2, 1},
};

// Headers of real checkpoints are a few MB at most; anything far larger is corruption.
constexpr std::uint64_t kMaxHeaderBytes = 256ull << 20;

}  // namespace

std::optional<FileDType> file_dtype_from_safetensors(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return d.dtype;
  return std::nullopt;
}

std::string file_dtype_name(FileDType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.name;
  return "?";
}

std::size_t file_dtype_size(FileDType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.size;
  return 0;
}

std::optional<WeightType> to_weight_type(FileDType dtype) {
  switch (dtype) {
    case FileDType::F32: return WeightType::F32;
    case FileDType::F16: return WeightType::F16;
    case FileDType::BF16: return WeightType::BF16;
    default: return std::nullopt;
  }
}

std::int64_t TensorSource::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string shape_to_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  map_ = std::make_unique<MappedFile>(path);
  const std::size_t size = map_->size();
  if (size < 8)
    fail(ErrorKind::Format, path + ": safetensors file is " + std::to_string(size) +
                                " bytes, expected at least 8 (the header length)");
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, map_->data(), 8);
  if (header_len > kMaxHeaderBytes || header_len > size - 8)
    fail(ErrorKind::Format, path + ": safetensors header length " + std::to_string(header_len) +
                                " does not fit the file of " + std::to_string(size) + " bytes (truncated or not safetensors)");
  std::string header_text(reinterpret_cast<const char*>(map_->data() + 8), header_len);
  Json header = parse_json_text(header_text, path + " (safetensors header)");
  if (!header.is_object()) fail(ErrorKind::Format, path + ": safetensors header is not a JSON object");

  const std::uint8_t* base = map_->data() + 8 + header_len;
  const std::uint64_t data_size = size - 8 - header_len;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string where = path + ": tensor '" + it.key() + "'";
    const Json& e = it.value();
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      fail(ErrorKind::Format, where + ": expected an object with dtype, shape and data_offsets");
    if (!e["dtype"].is_string()) fail(ErrorKind::Format, where + ": dtype is not a string");
    auto dtype = file_dtype_from_safetensors(e["dtype"].get<std::string>());
    if (!dtype) fail(ErrorKind::DType, where + ": unknown dtype '" + e["dtype"].get<std::string>() + "'");
    if (!e["shape"].is_array()) fail(ErrorKind::Format, where + ": shape is not an array");
    TensorSource t;
    t.name = it.key();
    t.dtype = *dtype;
    t.file = path;
    std::uint64_t numel = 1;
    for (const auto& d : e["shape"]) {
      if (!d.is_number_unsigned()) fail(ErrorKind::Format, where + ": shape has a non-integer or negative dimension");
      auto v = d.get<std::uint64_t>();
      if (v > (1ull << 40) || (v != 0 && numel > std::numeric_limits<std::uint64_t>::max() / v / 8))
        fail(ErrorKind::Format, where + ": shape dimension " + std::to_string(v) + " is too large");
      numel *= v;
      t.shape.push_back(static_cast<std::int64_t>(v));
    }
    const Json& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(ErrorKind::Format, where + ": data_offsets must be two non-negative integers");
    auto begin = off[0].get<std::uint64_t>();
    auto end = off[1].get<std::uint64_t>();
    if (begin > end || end > data_size)
      fail(ErrorKind::Format, where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                                  ") outside the data section of " + std::to_string(data_size) + " bytes (truncated file?)");
    const std::uint64_t expected = numel * file_dtype_size(t.dtype);
    if (end - begin != expected)
      fail(ErrorKind::Shape, where + ": holds " + std::to_string(end - begin) + " bytes, expected " +
                                 std::to_string(expected) + " for shape " + shape_to_string(t.shape) + " of " +
                                 file_dtype_name(t.dtype));
    t.nbytes = static_cast<std::size_t>(expected);
    t.data = base + begin;
    // Kernels read elements through typed pointers; copy the rare misaligned tensor so they may (operator new[]
    // aligns to __STDCPP_DEFAULT_NEW_ALIGNMENT__, at least 16, more than any dtype needs).
    const std::size_t align = std::max<std::size_t>(file_dtype_size(t.dtype), 1);
    if (reinterpret_cast<std::uintptr_t>(t.data) % align != 0 && t.nbytes > 0) {
      auto copy = std::make_unique_for_overwrite<std::uint8_t[]>(t.nbytes);
      std::memcpy(copy.get(), t.data, t.nbytes);
      t.data = copy.get();
      aligned_copies_.push_back(std::move(copy));
    }
    tensors_.push_back(std::move(t));
  }
  // The format forbids overlapping tensors; overlap means a corrupt header.
  std::vector<std::pair<std::uint64_t, std::size_t>> spans;
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    const Json& off = header[tensors_[i].name]["data_offsets"];
    spans.emplace_back(off[0].get<std::uint64_t>(), i);
  }
  std::sort(spans.begin(), spans.end());
  for (std::size_t k = 1; k < spans.size(); ++k) {
    const auto& prev = tensors_[spans[k - 1].second];
    std::uint64_t prev_end = spans[k - 1].first + prev.nbytes;
    if (spans[k].first < prev_end)
      fail(ErrorKind::Format, path + ": tensors '" + prev.name + "' and '" + tensors_[spans[k].second].name +
                                  "' overlap in the data section");
  }
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors) {
  Json header = Json::object();
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", file_dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string text = header.dump();
  while ((text.size() + 8) % 8 != 0) text.push_back(' ');  // keep the data section 8-byte aligned
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail(ErrorKind::Io, path + ": cannot create");
  std::uint64_t len = text.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  // Tensors are written in the order of their offsets, which is the input order.
  for (const auto& t : tensors) out.write(static_cast<const char*>(t.data), static_cast<std::streamsize>(t.nbytes));
  if (!out) fail(ErrorKind::Io, path + ": write failed");
}

}  // namespace glmq
