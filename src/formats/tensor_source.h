#pragma once
// A tensor as a file holds it: name, shape, element type and where its bytes are.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "quant/weight_type.h"

namespace glmq {

// Element types a tensor file may declare. Only some are weight types (see to_weight_type).
enum class FileDType : std::uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U8, U16, U32, U64, BOOL, F8_E4M3, F8_E5M2 };

std::optional<FileDType> file_dtype_from_safetensors(const std::string& name);
std::string file_dtype_name(FileDType dtype);
std::size_t file_dtype_size(FileDType dtype);
std::optional<WeightType> to_weight_type(FileDType dtype);

struct TensorSource {
  std::string name;
  std::vector<std::int64_t> shape;
  FileDType dtype = FileDType::F32;
  const std::uint8_t* data = nullptr;  // points into a mapped file (or an owned aligned copy)
  std::size_t nbytes = 0;
  std::string file;                    // for error messages

  std::int64_t numel() const;
};

std::string shape_to_string(const std::vector<std::int64_t>& shape);

}  // namespace glmq
