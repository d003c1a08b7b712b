#pragma once
// `glmq quantize --format gguf`: a glm-dsa GGUF from an HF checkpoint, as llama.cpp's convert_hf_to_gguf.py followed
// by llama-quantize --pure [--imatrix] [--tensor-type …] (and llama-gguf-split --split-max-size
// --no-tensor-first-split) would make it: the converter's metadata, tokenizer and tensor layout
// (gguf_tensor_plan.h), llama-quantize's type choices and fallbacks (gguf_type_selection.h) and its quantizers
// with imatrix weights. Streams: one expert (or head) of one tensor is in memory at a time; rows are quantized on
// several threads.
#include <cstdint>
#include <string>
#include <vector>

#include "quant/gguf_type_selection.h"
#include "quant/importance_matrix.h"
#include "quant/input_covariance.h"
#include "quant/recipe.h"

namespace glmq {

struct GgufQuantizeOptions {
  WeightType default_type = WeightType::IQ4_NL;  // llama-quantize's type argument
  Recipe rules;                                  // --tensor-type rules, first match wins (Recipe::from_tensor_types)
  const ImportanceMatrix* imatrix = nullptr;
  std::string imatrix_path;                      // recorded as quantize.imatrix.file
  std::uint64_t split_max_bytes = 0;             // 0: one file; else shards with a metadata-only first one
  bool strict = false;                           // refuse instead of falling back to another type
  int threads = 0;                               // 0: all cores
  // Error-feedback rounding (quant/ggml_error_feedback.h) for every tensor of a per-block type that has an entry
  // here; null: llama-quantize's rounding, bit for bit.
  const InputCovariance* covariance = nullptr;
  std::string covariance_path;                   // recorded as quantize.covariance.file
  double damp = 0.1;                             // dampening, a fraction of the mean diagonal of Σ xᵀx
};

struct GgufPlannedTensor {
  std::string name;
  std::vector<std::int64_t> ne;
  GgufTypeChoice choice;
  std::uint64_t bytes = 0;
  bool imatrix_used = false;  // quantized with importance weights
  bool error_feedback = false;  // quantized with error feedback from the input covariance
  int shard = 0;
};

struct GgufTypeTotal {
  std::string type;
  int tensors = 0;
  std::int64_t params = 0;
  std::uint64_t bytes = 0;
};

struct GgufQuantizePlan {
  std::vector<GgufPlannedTensor> tensors;
  std::vector<std::string> fallbacks;  // "blk.0.attn_k_b.weight: IQ2_S -> IQ4_NL (rows of 64 values)"
  std::vector<std::string> files;      // output paths, the metadata-only first shard included
  std::vector<GgufTypeTotal> by_type;  // in order of first appearance
  std::int64_t total_params = 0;
  std::uint64_t total_bytes = 0;       // tensor data only
  double bits_per_weight() const {
    return total_params ? 8.0 * static_cast<double>(total_bytes) / static_cast<double>(total_params) : 0.0;
  }
};

// Decides every tensor's type, size, imatrix use and shard without writing. Refuses (typed errors naming the
// tensor) what llama-quantize refuses: an i-quant needing an imatrix without one or without an entry for the tensor
// (quant_gguf.md §5.8), an imatrix entry of the wrong size; and what glmq cannot write; with `strict`, any fallback.
GgufQuantizePlan plan_gguf_quantization(const std::string& hf_dir, const std::string& out, const GgufQuantizeOptions& options);

// Plans as above, then writes the file(s). Progress on stderr, ending in a summary line.
GgufQuantizePlan write_glm_dsa_gguf(const std::string& hf_dir, const std::string& out, const GgufQuantizeOptions& options);

}  // namespace glmq
