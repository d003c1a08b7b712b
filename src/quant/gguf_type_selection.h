#pragma once
// llama-quantize's per-tensor type decision (src/llama-quant.cpp llama_tensor_get_type; shared/docs/quant_gguf.md
// §7.1), for tensors named as llama.cpp names them, with its --pure semantics (no ftype mix heuristics): tensors
// llama-quantize never quantizes keep their converted type; the others take the first matching --tensor-type rule,
// else the default type; then a type whose blocks do not divide the row length falls back as llama-quantize's
// tensor_type_fallback does.
#include <cstdint>
#include <string>
#include <vector>

#include "quant/recipe.h"
#include "quant/weight_type.h"

namespace glmq {

// tensor_allows_quantization for glm-dsa: 2-D and 3-D ".weight" tensors other than norms and the router.
bool gguf_tensor_allows_quantization(const std::string& name, std::size_t n_dims);

// tensor_type_fallback's choice for rows of `row_length` values: `target` when its blocks divide the rows, else
// IQ4_NL for the 256-block i-quants, Q4_0 for Q2_K/Q3_K, Q5_0 for Q4_K, Q5_1 for Q5_K, Q8_0 for Q6_K, and F16 when
// even that does not divide (a 32-block target goes straight to F16).
WeightType gguf_fallback_type(WeightType target, std::int64_t row_length);

// tensor_requires_imatrix: IQ2_XXS and IQ2_S (and the other ≤ 2.3-bit i-quants glmq does not write) need one,
// except for token_embd.weight and output.weight.
bool gguf_type_requires_imatrix(const std::string& name, WeightType type);

struct GgufTypeChoice {
  WeightType type = WeightType::F32;       // what the tensor is written as
  WeightType requested = WeightType::F32;  // the rule's or the default's type, before any fallback
  bool quantizable = false;                // false: kept as converted (1-D, norms, router)
  bool fell_back = false;                  // requested's blocks do not divide the rows
  std::string rule;                        // the --tensor-type pattern that decided, or "" (default type / kept)
};

// `ne` in ggml order (ne[0] the row length); `converted` is the type llama.cpp's converter stores the tensor as.
// A fallback is applied as llama-quantize applies it (fell_back says so); refusing it (--strict) is the caller's call.
GgufTypeChoice choose_gguf_type(const std::string& name, const std::vector<std::int64_t>& ne, WeightType converted,
                                WeightType default_type, const Recipe& rules);

}  // namespace glmq
