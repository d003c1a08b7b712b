#pragma once
// The tensors of a glm-dsa GGUF made from an HF checkpoint, laid out as llama.cpp's convert_hf_to_gguf.py lays
// them out (shared/docs/quant_gguf.md §3.2–3.3): llama.cpp's names, ne-ordered shapes, kv_b_proj split into
// attn_k_b (each head's nope rows transposed) and attn_v_b, routed experts stacked into one 3-D tensor per
// projection, and the type the converter stores (F32 for 1-D tensors, norms, the router and the indexer
// projection; otherwise the checkpoint's float type). Values are produced slice by slice on demand, so a writer
// holds at most one expert (or head) in float32 at a time.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "formats/tensor_store.h"
#include "model/config.h"
#include "quant/weight_type.h"

namespace glmq {

struct GgufTensorSource {
  std::string name;               // e.g. "blk.3.ffn_up_exps.weight"
  std::vector<std::int64_t> ne;   // ggml order; a third dimension counts experts or heads
  WeightType converted_type = WeightType::F32;  // F32, F16 or BF16
  // Writes slice `s` (< slices()) as rows() × cols() floats.
  std::function<void(std::int64_t s, float* out)> fill;

  std::int64_t cols() const { return ne.at(0); }
  std::int64_t rows() const { return ne.size() > 1 ? ne[1] : 1; }
  std::int64_t slices() const { return ne.size() > 2 ? ne[2] : 1; }
  std::int64_t numel() const { return cols() * rows() * slices(); }
};

// Every tensor of the checkpoint in `store`, checked against `c` (shapes, float types, experts complete); a
// tensor the layout does not account for is an UnexpectedTensor error. Order: token_embd, the blocks (the NextN
// block last), output_norm, output.
std::vector<GgufTensorSource> plan_glm_dsa_tensors(const TensorStore& store, const GlmConfig& c);

}  // namespace glmq
