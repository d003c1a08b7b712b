#pragma once
// ggml's tensor type ids (enum ggml_type, as GGUF stores them) with their block geometry, and the mapping
// onto glmq's WeightType. The reader knows the geometry of every type ggml defines, so it can validate a file
// whose types glmq does not compute with; the loader then refuses those by name.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "quant/weight_type.h"

namespace glmq {

struct GgmlTypeInfo {
  std::uint32_t id = 0;
  const char* name = "";
  std::int64_t block_size = 0;  // elements per block
  std::size_t block_bytes = 0;
};

// Nullopt for ids ggml does not define (including removed ones such as 4, 5, 31–33, 36–38).
std::optional<GgmlTypeInfo> ggml_type_info(std::uint32_t id);
// "Q4_K", or "type 77" for unknown ids.
std::string ggml_type_name(std::uint32_t id);
// "q4_k" / "Q4_K" → id, for any type ggml defines.
std::optional<std::uint32_t> ggml_type_from_name(const std::string& name);

std::optional<WeightType> weight_type_from_ggml(std::uint32_t id);
// The ggml id of a float or GGML block type; nullopt for MLX affine types.
std::optional<std::uint32_t> ggml_id_of(WeightType type);

}  // namespace glmq
