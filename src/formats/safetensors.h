#pragma once
// The safetensors format: 8-byte little-endian header length, JSON header, raw little-endian data.
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "formats/tensor_source.h"

namespace glmq {

class SafetensorsFile {
 public:
  // Maps and validates the file: header bounds, JSON, dtypes, shapes, data offsets (in range, sized
  // as shape × dtype, not overlapping). Throws glmq::Error naming the file and tensor on any defect.
  explicit SafetensorsFile(const std::string& path);

  const std::vector<TensorSource>& tensors() const { return tensors_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::unique_ptr<MappedFile> map_;
  std::vector<std::unique_ptr<std::uint8_t[]>> aligned_copies_;
  std::vector<TensorSource> tensors_;
};

// Writes tensors as a safetensors file (used by tests and by writers of glmq-made checkpoints).
struct TensorToWrite {
  std::string name;
  std::vector<std::int64_t> shape;
  FileDType dtype;
  const void* data;
  std::size_t nbytes;
};
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors);

}  // namespace glmq
