#pragma once
// Writes GGUF v3 files llama.cpp accepts (quant_gguf.md §1): header, metadata, tensor infos with offsets equal to
// the running padded sum, zero padding to the alignment, then the tensor data in info order. Streams: the header
// goes out first and each tensor's bytes are appended in turn, so a quantizer never holds more than one tensor.
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "formats/gguf_value.h"

namespace glmq {

struct GgufTensorSpec {
  std::string name;
  std::vector<std::int64_t> ne;  // ggml order (ne[0] = row length)
  std::uint32_t ggml_type = 0;
};

using GgufMetadata = std::vector<std::pair<std::string, GgufValue>>;

// Bytes of a tensor of this shape and type; throws for unknown types or rows that are not whole blocks.
std::size_t gguf_tensor_bytes(const GgufTensorSpec& spec);

class GgufWriter {
 public:
  // Validates names, types and shapes and writes everything up to the data section.
  GgufWriter(const std::string& path, const GgufMetadata& metadata, std::vector<GgufTensorSpec> tensors,
             std::size_t alignment = 32);
  // The next tensor's bytes (exactly gguf_tensor_bytes of its spec), then its padding.
  void append(const void* data, std::size_t nbytes);
  // The next tensor's bytes in pieces (e.g. one expert at a time): the padding follows once the pieces add up to
  // its size; a piece passing that size is an error.
  void append_part(const void* data, std::size_t nbytes);
  // Checks every tensor was written and closes the file.
  void finish();
  std::uint64_t bytes_written() const { return written_; }

 private:
  void raw(const void* p, std::size_t n);
  void pad();

  std::string path_;
  std::ofstream out_;
  std::vector<GgufTensorSpec> tensors_;
  std::size_t alignment_;
  std::size_t next_ = 0;
  std::size_t part_written_ = 0;  // bytes of tensor next_ written by append_part so far
  std::uint64_t written_ = 0;
};

// One-shot form for small files (tests, imatrix): tensors with their bytes.
struct GgufTensorData {
  GgufTensorSpec spec;
  const void* data = nullptr;
  std::size_t nbytes = 0;
};
void write_gguf(const std::string& path, const GgufMetadata& metadata, const std::vector<GgufTensorData>& tensors,
                std::size_t alignment = 32);

}  // namespace glmq
