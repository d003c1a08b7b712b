// imatrix files (quant_gguf.md §6.2, §6.3) and llama-quantize's quant_weights (§6.4, tools/quantize/quantize.cpp
// load_imatrix): the GGUF form through glmq's GGUF reader and writer, the legacy form parsed here.
#include "quant/importance_matrix.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/gguf_file.h"
#include "formats/gguf_writer.h"

namespace glmq {

namespace {

constexpr std::uint32_t kGgmlF32 = 0;
const std::string kSumSqSuffix = ".in_sum2";
const std::string kCountsSuffix = ".counts";
const std::string kSumSuffix = ".in_sum";  // Σx, optional; glmq does not use it
const std::string kDatasetsKey = "imatrix.datasets";
const std::string kChunkCountKey = "imatrix.chunk_count";
const std::string kChunkSizeKey = "imatrix.chunk_size";

bool remove_suffix(std::string& s, const std::string& suffix) {
  if (s.size() <= suffix.size() || s.compare(s.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  s.resize(s.size() - suffix.size());
  return true;
}

// The sizes every consumer relies on; `kind` is Format for a file's entry, InvalidArgument for a caller's.
void check_entry_shape(ErrorKind kind, const std::string& where, const std::string& name, const ImportanceEntry& e) {
  auto bad = [&](const std::string& what) { fail(kind, where + ": imatrix entry '" + name + "': " + what); };
  if (e.n_experts < 1 || e.cols < 1)
    bad("expected at least 1 expert and 1 column, found " + std::to_string(e.n_experts) + " × " + std::to_string(e.cols));
  if (static_cast<std::int64_t>(e.counts.size()) != e.n_experts)
    bad("expected " + std::to_string(e.n_experts) + " counts, found " + std::to_string(e.counts.size()));
  if (e.cols > std::numeric_limits<std::int64_t>::max() / e.n_experts ||
      static_cast<std::int64_t>(e.sum_sq.size()) != e.n_experts * e.cols)
    bad("expected " + std::to_string(e.n_experts) + " × " + std::to_string(e.cols) + " sums of squares, found " +
        std::to_string(e.sum_sq.size()));
}

// llama-quantize aborts on non-finite quant_weights; a negative or non-finite count cannot come from llama-imatrix.
void check_entry_values(ErrorKind kind, const std::string& where, const std::string& name, const ImportanceEntry& e) {
  auto bad = [&](const std::string& what) { fail(kind, where + ": imatrix entry '" + name + "': " + what); };
  for (float c : e.counts)
    if (!std::isfinite(c) || c < 0) bad("a token count is " + std::to_string(c) + ", expected a finite count ≥ 0");
  for (float v : e.sum_sq)
    if (!std::isfinite(v)) bad("a sum of squares is not finite (" + std::to_string(v) + ")");
}

void check_entry(ErrorKind kind, const std::string& where, const std::string& name, const ImportanceEntry& e) {
  check_entry_shape(kind, where, name, e);
  check_entry_values(kind, where, name, e);
}

std::vector<float> read_f32s(const GgufTensor& t) {
  std::vector<float> v(static_cast<std::size_t>(t.numel()));
  std::memcpy(v.data(), t.data, 4 * v.size());
  return v;
}

ImportanceMatrix parse_gguf(const std::uint8_t* data, std::size_t size, const std::string& what) {
  GgufFile f(data, size, what);
  auto bad = [&](const std::string& msg) { fail(ErrorKind::Format, what + ": " + msg); };
  if (const GgufValue* type = f.find("general.type")) {
    if (type->type() != GgufType::STRING || type->as_string("general.type") != "imatrix")
      bad(std::string("general.type is ") +
          (type->type() == GgufType::STRING ? "'" + type->as_string("general.type") + "'" : gguf_type_name(type->type())) +
          ", expected 'imatrix': this GGUF file is not an importance matrix");
  }
  ImportanceMatrix m;
  // llama-quantize refuses GGUF imatrix files without these three keys ("missing imatrix metadata").
  for (const std::string& key : {kDatasetsKey, kChunkCountKey, kChunkSizeKey})
    if (!f.find(key)) bad("GGUF imatrix metadata key '" + key + "' is missing");
  const GgufValue& datasets = f.get(kDatasetsKey);
  if (!datasets.is_array() || datasets.element_type() != GgufType::STRING)
    bad(kDatasetsKey + " must be an array of strings, found " + gguf_type_name(datasets.type()));
  m.datasets = datasets.as_string_array(kDatasetsKey);
  for (const std::string& key : {kChunkCountKey, kChunkSizeKey}) {
    const GgufValue& v = f.get(key);
    if (v.is_array() || !gguf_type_is_integer(v.element_type()))
      bad(key + " must be an integer, found " + gguf_type_name(v.type()));
    const std::int64_t n = v.as_int(key);
    if (n < 0) bad(key + " is " + std::to_string(n) + ", expected ≥ 0");
    (key == kChunkCountKey ? m.chunk_count : m.chunk_size) = n;
  }

  struct Parts {
    const GgufTensor* sum_sq = nullptr;
    const GgufTensor* counts = nullptr;
    const GgufTensor* sum = nullptr;
  };
  std::map<std::string, Parts> parts;
  for (const GgufTensor& t : f.tensors()) {
    std::string name = t.name;
    if (remove_suffix(name, kSumSqSuffix)) parts[name].sum_sq = &t;
    else if (remove_suffix(name, kCountsSuffix)) parts[name].counts = &t;
    else if (remove_suffix(name, kSumSuffix)) parts[name].sum = &t;
    // Other tensors (llama-imatrix's per-tensor "<name>.stats") carry nothing llama-quantize reads.
  }
  for (const auto& [name, p] : parts) {
    if (!p.sum_sq || !p.counts)
      bad("imatrix entry '" + name + "' has " + (p.sum_sq ? "no '" + name + kCountsSuffix + "'" : "no '" + name + kSumSqSuffix + "'") +
          " tensor; each entry needs both sums of squares and counts");
    for (const GgufTensor* t : {p.sum_sq, p.counts})
      if (t->ggml_type != kGgmlF32) bad("tensor '" + t->name + "' has ggml type " + std::to_string(t->ggml_type) + ", expected F32 (0)");
    if (p.sum && p.sum->numel() != p.sum_sq->numel())
      bad("tensor '" + p.sum->name + "' has " + std::to_string(p.sum->numel()) + " values, '" + p.sum_sq->name + "' " +
          std::to_string(p.sum_sq->numel()) + "; they must match");
    ImportanceEntry e;
    e.n_experts = p.counts->numel();
    if (e.n_experts < 1) bad("tensor '" + p.counts->name + "' is empty");
    if (p.sum_sq->numel() < 1 || p.sum_sq->numel() % e.n_experts != 0)
      bad("tensor '" + p.sum_sq->name + "' has " + std::to_string(p.sum_sq->numel()) + " values, expected a positive multiple of " +
          std::to_string(e.n_experts) + " (one row per count in '" + p.counts->name + "')");
    e.cols = p.sum_sq->numel() / e.n_experts;
    e.sum_sq = read_f32s(*p.sum_sq);
    e.counts = read_f32s(*p.counts);
    check_entry(ErrorKind::Format, what, name, e);
    m.entries.emplace(name, std::move(e));
  }
  if (m.entries.empty()) bad("the GGUF imatrix has no entries (no '<name>.in_sum2' / '<name>.counts' tensor pairs)");
  return m;
}

// Little-endian reads with bounds checks for the legacy format.
class LegacyCursor {
 public:
  LegacyCursor(const std::uint8_t* data, std::size_t size, const std::string& what) : data_(data), size_(size), what_(what) {}
  std::size_t remaining() const { return size_ - pos_; }
  [[noreturn]] void error(const std::string& msg) const {
    fail(ErrorKind::Format, what_ + ": legacy imatrix: " + msg + " (at byte " + std::to_string(pos_) + " of " +
                                std::to_string(size_) + ")");
  }
  std::int32_t i32(const char* field) {
    need(4, field);
    std::int32_t v;
    std::memcpy(&v, data_ + pos_, 4);
    pos_ += 4;
    return v;
  }
  std::string bytes(std::size_t n, const char* field) {
    need(n, field);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  std::vector<float> f32s(std::size_t n, const char* field) {
    if (n > remaining() / 4) error(std::string(field) + ": " + std::to_string(n) + " floats do not fit the " +
                                   std::to_string(remaining()) + " bytes left; the file is truncated or corrupt");
    std::vector<float> v(n);
    std::memcpy(v.data(), data_ + pos_, 4 * n);
    pos_ += 4 * n;
    return v;
  }

 private:
  void need(std::size_t n, const char* field) const {
    if (n > remaining())
      error(std::string("truncated: ") + field + " needs " + std::to_string(n) + " bytes, " + std::to_string(remaining()) + " left");
  }
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  const std::string& what_;
};

ImportanceMatrix parse_legacy(const std::uint8_t* data, std::size_t size, const std::string& what) {
  LegacyCursor c(data, size, what);
  ImportanceMatrix m;
  const std::int32_t n_entries = c.i32("entry count");
  // An entry takes at least 17 bytes (name length, a 1-byte name, ncall, nval, one float).
  if (n_entries < 1 || static_cast<std::size_t>(n_entries) > c.remaining() / 17)
    c.error("entry count " + std::to_string(n_entries) + " is impossible for a file of " + std::to_string(size) +
            " bytes (not an imatrix file?)");
  for (std::int32_t i = 0; i < n_entries; ++i) {
    const std::int32_t len = c.i32("name length");
    if (len < 1 || static_cast<std::size_t>(len) > c.remaining())
      c.error("entry " + std::to_string(i) + " has name length " + std::to_string(len) + ", expected 1.." +
              std::to_string(c.remaining()));
    std::string name = c.bytes(static_cast<std::size_t>(len), "entry name");
    if (name.find('\0') != std::string::npos) c.error("entry " + std::to_string(i) + " has a NUL byte in its name");
    if (m.entries.count(name)) c.error("entry '" + name + "' appears twice");
    const std::int32_t ncall = c.i32("ncall");
    const std::int32_t nval = c.i32("value count");
    if (nval < 1) c.error("entry '" + name + "' has " + std::to_string(nval) + " values, expected at least 1");
    ImportanceEntry e;
    e.cols = nval;
    e.sum_sq = c.f32s(static_cast<std::size_t>(nval), "entry values");
    // Stored values are mean·ncall; llama-quantize divides by ncall when ncall > 0 and uses them as they are
    // otherwise, which dividing by a count of 1 reproduces.
    e.counts = {ncall > 0 ? static_cast<float>(ncall) : 1.0f};
    check_entry(ErrorKind::Format, what, name, e);
    m.entries.emplace(std::move(name), std::move(e));
  }
  // Optional trailer: the chunk count, then the dataset file name.
  if (c.remaining() > 0) {
    const std::int32_t last_chunk = c.i32("chunk count");
    if (last_chunk < 0) c.error("chunk count " + std::to_string(last_chunk) + " is negative");
    m.chunk_count = last_chunk;
    if (c.remaining() > 0) {
      const std::int32_t len = c.i32("dataset name length");
      if (len < 0 || static_cast<std::size_t>(len) > c.remaining())
        c.error("dataset name length " + std::to_string(len) + ", expected 0.." + std::to_string(c.remaining()));
      if (len > 0) m.datasets.push_back(c.bytes(static_cast<std::size_t>(len), "dataset name"));
    }
    if (c.remaining() > 0) c.error(std::to_string(c.remaining()) + " unexpected bytes after the dataset name");
  }
  return m;
}

}  // namespace

std::vector<float> ImportanceEntry::quant_weights(std::int64_t expert) const {
  check_entry_shape(ErrorKind::InvalidArgument, "quant_weights", "", *this);
  if (expert < 0 || expert >= n_experts)
    fail(ErrorKind::InvalidArgument, "quant_weights: expert " + std::to_string(expert) + " is out of range (the entry has " +
                                         std::to_string(n_experts) + ")");
  // load_imatrix divides by (float) of the count llama.cpp's loader rounded with lround.
  const auto count = static_cast<float>(std::lround(counts[static_cast<std::size_t>(expert)]));
  std::vector<float> w(static_cast<std::size_t>(cols), 1.0f);
  if (count > 0.0f) {
    const float* s = sum_sq.data() + expert * cols;
    for (std::int64_t i = 0; i < cols; ++i) w[static_cast<std::size_t>(i)] = s[i] / count;
  }
  return w;
}

const ImportanceEntry* ImportanceMatrix::find(const std::string& gguf_tensor_name) const {
  auto it = entries.find(gguf_tensor_name);
  return it == entries.end() ? nullptr : &it->second;
}

ImportanceMatrix parse_importance_matrix(const std::uint8_t* data, std::size_t size, const std::string& what) {
  if (size == 0) fail(ErrorKind::Format, what + ": the imatrix file is empty");
  std::uint32_t magic = 0;
  if (size >= 4) std::memcpy(&magic, data, 4);
  return magic == kGgufMagic ? parse_gguf(data, size, what) : parse_legacy(data, size, what);
}

ImportanceMatrix read_importance_matrix(const std::string& path) {
  MappedFile file(path);
  return parse_importance_matrix(file.data(), file.size(), path);
}

void write_importance_matrix(const std::string& path, const ImportanceMatrix& m) {
  for (const std::int64_t v : {m.chunk_count, m.chunk_size})
    if (v < 0 || v > std::numeric_limits<std::uint32_t>::max())
      fail(ErrorKind::InvalidArgument, path + ": imatrix chunk count/size " + std::to_string(v) + " does not fit a GGUF u32");
  if (m.entries.empty()) fail(ErrorKind::InvalidArgument, path + ": an imatrix needs at least one entry (llama.cpp rejects empty ones)");
  const GgufMetadata metadata = {
      {"general.type", GgufValue::string("imatrix")},
      {kDatasetsKey, GgufValue::string_array(m.datasets)},
      {kChunkCountKey, GgufValue::u32(static_cast<std::uint32_t>(m.chunk_count))},
      {kChunkSizeKey, GgufValue::u32(static_cast<std::uint32_t>(m.chunk_size))},
  };
  std::vector<GgufTensorData> tensors;
  for (const auto& [name, e] : m.entries) {
    check_entry(ErrorKind::InvalidArgument, path, name, e);
    tensors.push_back({{name + kSumSqSuffix, {e.cols, e.n_experts}, kGgmlF32}, e.sum_sq.data(), 4 * e.sum_sq.size()});
    tensors.push_back({{name + kCountsSuffix, {1, e.n_experts}, kGgmlF32}, e.counts.data(), 4 * e.counts.size()});
  }
  write_gguf(path, metadata, tensors);
}

std::vector<float> tensor_quant_weights(const ImportanceEntry& entry, const std::string& tensor, std::int64_t cols,
                                        std::int64_t slices) {
  check_entry_shape(ErrorKind::InvalidArgument, "tensor_quant_weights", tensor, entry);
  if (cols < 1 || slices < 1 || entry.n_experts * entry.cols != cols * slices)
    fail(ErrorKind::Shape, "imatrix entry for '" + tensor + "' has " + std::to_string(entry.n_experts * entry.cols) +
                               " values (" + std::to_string(entry.n_experts) + " × " + std::to_string(entry.cols) +
                               "), the tensor needs " + std::to_string(cols) + " × " + std::to_string(slices));
  std::vector<float> w;
  w.reserve(static_cast<std::size_t>(cols * slices));
  for (std::int64_t e = 0; e < entry.n_experts; ++e) {
    const std::vector<float> we = entry.quant_weights(e);
    w.insert(w.end(), we.begin(), we.end());
  }
  return w;
}

}  // namespace glmq
