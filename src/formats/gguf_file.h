#pragma once
// One GGUF v2/v3 file (shared/docs/quant_gguf.md §1): header, metadata, tensor infos and the data section,
// validated as llama.cpp's gguf_init_from_reader does (and stricter where it only asserts). Tensor data is used
// in place from the memory map.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/mapped_file.h"
#include "formats/gguf_value.h"

namespace glmq {

inline constexpr std::uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr std::size_t kGgufDefaultAlignment = 32;
inline constexpr std::size_t kGgufMaxNameLength = 63;     // ggml's GGML_MAX_NAME − 1

struct GgufTensor {
  std::string name;
  std::vector<std::int64_t> ne;  // ggml order: ne[0] is the row length (innermost); as many dims as stored
  std::uint32_t ggml_type = 0;
  std::uint64_t offset = 0;      // relative to the data section
  const std::uint8_t* data = nullptr;
  std::size_t nbytes = 0;

  std::int64_t numel() const;
  std::int64_t dim(std::size_t i) const { return i < ne.size() ? ne[i] : 1; }
};

class GgufFile {
 public:
  // Maps `path` and parses it. Throws glmq::Error (Format/Io) naming the file, the field and the byte offset.
  explicit GgufFile(const std::string& path);
  // Parses bytes the caller keeps alive (tests, fuzzing); `what` names them in errors.
  GgufFile(const std::uint8_t* data, std::size_t size, std::string what);

  const std::string& path() const { return path_; }
  std::uint32_t version() const { return version_; }
  std::size_t alignment() const { return alignment_; }
  std::size_t data_offset() const { return data_offset_; }
  std::size_t file_size() const { return size_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(const std::string& key) const;
  // Throws ErrorKind::Config naming the file when absent.
  const GgufValue& get(const std::string& key) const;

  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find_tensor(const std::string& name) const;

 private:
  void parse(const std::uint8_t* data, std::size_t size);

  std::string path_;
  std::unique_ptr<MappedFile> map_;
  std::size_t size_ = 0;
  std::uint32_t version_ = 0;
  std::size_t alignment_ = kGgufDefaultAlignment;
  std::size_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, std::size_t> key_index_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, std::size_t> tensor_index_;
};

}  // namespace glmq
