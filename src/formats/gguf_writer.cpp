#include "formats/gguf_writer.h"

#include <set>

#include "core/error.h"
#include "formats/ggml_types.h"
#include "formats/gguf_file.h"

namespace glmq {

std::size_t gguf_tensor_bytes(const GgufTensorSpec& spec) {
  const auto info = ggml_type_info(spec.ggml_type);
  if (!info) fail(ErrorKind::DType, "GGUF tensor '" + spec.name + "': unknown ggml type id " + std::to_string(spec.ggml_type));
  std::int64_t n = 1;
  for (auto d : spec.ne) {
    if (d < 0) fail(ErrorKind::Shape, "GGUF tensor '" + spec.name + "': negative dimension");
    n *= d;
  }
  if (spec.ne.empty() || spec.ne[0] % info->block_size != 0)
    fail(ErrorKind::Shape, "GGUF tensor '" + spec.name + "': rows of " + std::to_string(spec.ne.empty() ? 0 : spec.ne[0]) +
                               " elements are not whole " + info->name + " blocks of " + std::to_string(info->block_size));
  return static_cast<std::size_t>(n / info->block_size) * info->block_bytes;
}

namespace {
template <typename T>
void put(std::string& b, T v) {
  b.append(reinterpret_cast<const char*>(&v), sizeof(T));
}
void put_string(std::string& b, const std::string& s) {
  put<std::uint64_t>(b, s.size());
  b += s;
}
void put_value(std::string& b, const GgufValue& v) {
  put<std::uint32_t>(b, static_cast<std::uint32_t>(v.type()));
  if (v.is_array()) {
    put<std::uint32_t>(b, static_cast<std::uint32_t>(v.element_type()));
    put<std::uint64_t>(b, v.size());
  }
  if (v.element_type() == GgufType::STRING) {
    for (const auto& s : v.strings()) put_string(b, s);
  } else {
    b.append(reinterpret_cast<const char*>(v.raw_bytes().data()), v.raw_bytes().size());
  }
}
}  // namespace

GgufWriter::GgufWriter(const std::string& path, const GgufMetadata& metadata, std::vector<GgufTensorSpec> tensors,
                       std::size_t alignment)
    : path_(path), tensors_(std::move(tensors)), alignment_(alignment) {
  if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0)
    fail(ErrorKind::InvalidArgument, path + ": GGUF alignment " + std::to_string(alignment_) + " is not a power of two");
  std::string b;
  put<std::uint32_t>(b, kGgufMagic);
  put<std::uint32_t>(b, 3);
  put<std::int64_t>(b, static_cast<std::int64_t>(tensors_.size()));
  const bool custom_alignment = alignment_ != kGgufDefaultAlignment;
  put<std::int64_t>(b, static_cast<std::int64_t>(metadata.size() + (custom_alignment ? 1 : 0)));
  std::set<std::string> keys;
  for (const auto& [key, value] : metadata) {
    if (key.empty() || !keys.insert(key).second || (custom_alignment && key == "general.alignment"))
      fail(ErrorKind::InvalidArgument, path + ": GGUF metadata key '" + key + "' is empty or repeated");
    put_string(b, key);
    put_value(b, value);
  }
  if (custom_alignment) {
    put_string(b, "general.alignment");
    put_value(b, GgufValue::u32(static_cast<std::uint32_t>(alignment_)));
  }
  std::set<std::string> names;
  std::uint64_t offset = 0;
  for (const auto& t : tensors_) {
    if (t.name.empty() || t.name.size() > kGgufMaxNameLength || !names.insert(t.name).second)
      fail(ErrorKind::InvalidArgument, path + ": GGUF tensor name '" + t.name + "' is empty, longer than 63 bytes or repeated");
    if (t.ne.empty() || t.ne.size() > 4) fail(ErrorKind::Shape, path + ": GGUF tensor '" + t.name + "' must have 1-4 dimensions");
    const std::size_t nbytes = gguf_tensor_bytes(t);
    put_string(b, t.name);
    put<std::uint32_t>(b, static_cast<std::uint32_t>(t.ne.size()));
    for (auto d : t.ne) put<std::int64_t>(b, d);
    put<std::uint32_t>(b, t.ggml_type);
    put<std::uint64_t>(b, offset);
    offset += (nbytes + alignment_ - 1) / alignment_ * alignment_;
  }
  out_.open(path, std::ios::binary | std::ios::trunc);
  if (!out_) fail(ErrorKind::Io, path + ": cannot create file");
  raw(b.data(), b.size());
  pad();
}

void GgufWriter::raw(const void* p, std::size_t n) {
  out_.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
  if (!out_) fail(ErrorKind::Io, path_ + ": write failed (disk full?)");
  written_ += n;
}

void GgufWriter::pad() {
  static const char zeros[256] = {};
  std::size_t n = static_cast<std::size_t>((alignment_ - written_ % alignment_) % alignment_);
  while (n > 0) {
    const std::size_t k = std::min(n, sizeof zeros);
    raw(zeros, k);
    n -= k;
  }
}

void GgufWriter::append_part(const void* data, std::size_t nbytes) {
  if (next_ >= tensors_.size()) fail(ErrorKind::InvalidArgument, path_ + ": more tensor data than tensors declared");
  const GgufTensorSpec& t = tensors_[next_];
  const std::size_t total = gguf_tensor_bytes(t);
  if (nbytes > total - part_written_)
    fail(ErrorKind::InvalidArgument, path_ + ": tensor '" + t.name + "' got " + std::to_string(part_written_ + nbytes) +
                                         " bytes, expected " + std::to_string(total));
  raw(data, nbytes);
  part_written_ += nbytes;
  if (part_written_ == total) {
    pad();
    part_written_ = 0;
    ++next_;
  }
}

void GgufWriter::append(const void* data, std::size_t nbytes) {
  if (next_ >= tensors_.size()) fail(ErrorKind::InvalidArgument, path_ + ": more tensor data than tensors declared");
  const GgufTensorSpec& t = tensors_[next_];
  if (part_written_ != 0)
    fail(ErrorKind::InvalidArgument, path_ + ": tensor '" + t.name + "' is partly written with append_part");
  if (nbytes != gguf_tensor_bytes(t))
    fail(ErrorKind::InvalidArgument, path_ + ": tensor '" + t.name + "' got " + std::to_string(nbytes) + " bytes, expected " +
                                         std::to_string(gguf_tensor_bytes(t)));
  raw(data, nbytes);
  pad();
  ++next_;
}

void GgufWriter::finish() {
  if (next_ != tensors_.size())
    fail(ErrorKind::InvalidArgument, path_ + ": " + std::to_string(tensors_.size() - next_) + " tensor(s) declared but not written");
  out_.close();
  if (!out_) fail(ErrorKind::Io, path_ + ": closing failed");
}

void write_gguf(const std::string& path, const GgufMetadata& metadata, const std::vector<GgufTensorData>& tensors,
                std::size_t alignment) {
  std::vector<GgufTensorSpec> specs;
  for (const auto& t : tensors) specs.push_back(t.spec);
  GgufWriter w(path, metadata, std::move(specs), alignment);
  for (const auto& t : tensors) w.append(t.data, t.nbytes);
  w.finish();
}

}  // namespace glmq
