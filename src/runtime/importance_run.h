#pragma once
// The importance-matrix run of `glmq imatrix`, as llama-imatrix does it (shared/docs/quant_gguf.md §6): the text's
// tokens in disjoint chunks of `context` tokens, each from an empty cache, through the CPU backend with an
// ImportanceCollector watching every matrix product.
#include <cstdint>
#include <span>

#include "backend/cpu/cpu_backend.h"
#include "model/weights.h"
#include "quant/importance_matrix.h"
#include "quant/input_covariance.h"

namespace glmq {

struct ImportanceRunOptions {
  std::int64_t context = 512;    // tokens per chunk (llama-imatrix's -c)
  std::int64_t max_chunks = 0;   // 0: every whole chunk of the text (llama-imatrix's --chunks)
  bool collect_covariance = false;  // also Σ xᵀx per weight and slice (for error-feedback quantization)
};

struct ImportanceRun {
  ImportanceMatrix matrix;  // chunk_count and chunk_size set; datasets left to the caller
  InputCovariance covariance;  // with collect_covariance: the same chunks' Σ xᵀx (chunk_count/size set)
  std::int64_t tokens = 0;  // tokens run through the model
  double seconds = 0;
};

// Leftover tokens past the last whole chunk are not used. Fails (InvalidArgument) when the text has fewer tokens
// than one chunk.
ImportanceRun run_importance_matrix(const Weights& weights, CpuBackend& backend, std::span<const std::int32_t> tokens,
                                    const ImportanceRunOptions& options);

}  // namespace glmq
