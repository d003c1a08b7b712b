#include "quant/input_covariance.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "formats/gguf_file.h"
#include "formats/gguf_writer.h"

namespace glmq {

namespace {

constexpr std::uint32_t kGgmlF32 = 0;
const std::string kFileType = "glmq.covariance";
const std::string kXtxSuffix = ".xtx";
const std::string kCountsSuffix = ".counts";
const std::string kDatasetsKey = "covariance.datasets";
const std::string kChunkCountKey = "covariance.chunk_count";
const std::string kChunkSizeKey = "covariance.chunk_size";

bool remove_suffix(std::string& s, const std::string& suffix) {
  if (s.size() <= suffix.size() || s.compare(s.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  s.resize(s.size() - suffix.size());
  return true;
}

void check_entry(ErrorKind kind, const std::string& where, const std::string& name, const CovarianceEntry& e) {
  auto bad = [&](const std::string& what) { fail(kind, where + ": covariance entry '" + name + "': " + what); };
  if (e.slices < 1 || e.cols < 1 || e.cols > 65536)
    bad("expected at least 1 slice and 1..65536 columns, found " + std::to_string(e.slices) + " x " + std::to_string(e.cols));
  if (static_cast<std::int64_t>(e.counts.size()) != e.slices)
    bad("expected " + std::to_string(e.slices) + " counts, found " + std::to_string(e.counts.size()));
  if (static_cast<std::int64_t>(e.xtx.size()) != e.slices * e.cols * e.cols)
    bad("expected " + std::to_string(e.slices) + " x " + std::to_string(e.cols) + " x " + std::to_string(e.cols) +
        " values, found " + std::to_string(e.xtx.size()));
  for (float c : e.counts)
    if (!std::isfinite(c) || c < 0) bad("a row count is " + std::to_string(c) + ", expected a finite count >= 0");
  for (float v : e.xtx)
    if (!std::isfinite(v)) bad("a sum is not finite");
}

std::vector<float> read_f32s(const GgufTensor& t) {
  std::vector<float> v(static_cast<std::size_t>(t.numel()));
  std::memcpy(v.data(), t.data, 4 * v.size());
  return v;
}

}  // namespace

const CovarianceEntry* InputCovariance::find(const std::string& gguf_tensor_name) const {
  auto it = entries.find(gguf_tensor_name);
  return it == entries.end() ? nullptr : &it->second;
}

InputCovariance read_input_covariance(const std::string& path) {
  GgufFile f(path);
  auto bad = [&](const std::string& msg) { fail(ErrorKind::Format, path + ": " + msg); };
  const GgufValue* type = f.find("general.type");
  if (!type || type->type() != GgufType::STRING || type->as_string("general.type") != kFileType)
    bad("general.type is not '" + kFileType + "': this file was not written by glmq imatrix --covariance");
  InputCovariance c;
  if (const GgufValue* d = f.find(kDatasetsKey); d && d->is_array() && d->element_type() == GgufType::STRING)
    c.datasets = d->as_string_array(kDatasetsKey);
  for (const std::string& key : {kChunkCountKey, kChunkSizeKey})
    if (const GgufValue* v = f.find(key); v && !v->is_array() && gguf_type_is_integer(v->element_type()))
      (key == kChunkCountKey ? c.chunk_count : c.chunk_size) = v->as_int(key);

  std::map<std::string, std::pair<const GgufTensor*, const GgufTensor*>> parts;  // xtx, counts
  for (const GgufTensor& t : f.tensors()) {
    std::string name = t.name;
    if (remove_suffix(name, kXtxSuffix)) parts[name].first = &t;
    else if (remove_suffix(name, kCountsSuffix)) parts[name].second = &t;
    else bad("unexpected tensor '" + t.name + "' (expected '<name>.xtx' and '<name>.counts')");
  }
  for (const auto& [name, p] : parts) {
    if (!p.first || !p.second) bad("covariance entry '" + name + "' lacks its " + (p.first ? "counts" : "xtx") + " tensor");
    for (const GgufTensor* t : {p.first, p.second})
      if (t->ggml_type != kGgmlF32) bad("tensor '" + t->name + "' has ggml type " + std::to_string(t->ggml_type) + ", expected F32 (0)");
    CovarianceEntry e;
    e.cols = p.first->dim(0);
    e.slices = p.first->dim(2);
    if (p.first->dim(1) != e.cols || p.first->ne.size() > 3)
      bad("tensor '" + p.first->name + "' is not [cols, cols, slices]");
    e.xtx = read_f32s(*p.first);
    e.counts = read_f32s(*p.second);
    check_entry(ErrorKind::Format, path, name, e);
    c.entries.emplace(name, std::move(e));
  }
  if (c.entries.empty()) bad("the covariance file has no entries");
  return c;
}

void write_input_covariance(const std::string& path, const InputCovariance& c) {
  for (const std::int64_t v : {c.chunk_count, c.chunk_size})
    if (v < 0 || v > std::numeric_limits<std::uint32_t>::max())
      fail(ErrorKind::InvalidArgument, path + ": chunk count/size " + std::to_string(v) + " does not fit a GGUF u32");
  if (c.entries.empty()) fail(ErrorKind::InvalidArgument, path + ": a covariance file needs at least one entry");
  const GgufMetadata metadata = {
      {"general.type", GgufValue::string(kFileType)},
      {kDatasetsKey, GgufValue::string_array(c.datasets)},
      {kChunkCountKey, GgufValue::u32(static_cast<std::uint32_t>(c.chunk_count))},
      {kChunkSizeKey, GgufValue::u32(static_cast<std::uint32_t>(c.chunk_size))},
  };
  std::vector<GgufTensorData> tensors;
  for (const auto& [name, e] : c.entries) {
    check_entry(ErrorKind::InvalidArgument, path, name, e);
    tensors.push_back({{name + kXtxSuffix, {e.cols, e.cols, e.slices}, kGgmlF32}, e.xtx.data(), 4 * e.xtx.size()});
    tensors.push_back({{name + kCountsSuffix, {1, e.slices}, kGgmlF32}, e.counts.data(), 4 * e.counts.size()});
  }
  write_gguf(path, metadata, tensors);
}

}  // namespace glmq
