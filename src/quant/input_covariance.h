#pragma once
// Input covariance statistics for error-feedback (GPTQ-style) quantization: per weight tensor and per slice (routed
// expert, or attention head of attn_k_b / attn_v_b), H = Σ xᵀx over the calibration tokens that reached that slice,
// where x is one input row of the product (cols values). `glmq imatrix --covariance FILE` writes them next to the
// importance matrix; `glmq quantize --covariance FILE` uses them. The file is GGUF (general.type =
// "glmq.covariance"), a glmq format that llama.cpp neither reads nor needs.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace glmq {

struct CovarianceEntry {
  std::int64_t slices = 1, cols = 0;
  std::vector<float> xtx;     // slices × cols × cols, symmetric per slice: Σ x_i x_j
  std::vector<float> counts;  // slices: input rows summed
  const float* slice(std::int64_t s) const { return xtx.data() + s * cols * cols; }
};

struct InputCovariance {
  std::map<std::string, CovarianceEntry> entries;  // keyed by GGUF tensor name
  std::vector<std::string> datasets;
  std::int64_t chunk_count = 0, chunk_size = 0;
  const CovarianceEntry* find(const std::string& gguf_tensor_name) const;
};

// Throws glmq::Error (Io, Format) naming the file, the entry, what was expected and found.
InputCovariance read_input_covariance(const std::string& path);
// "<name>.xtx" (F32, ne = [cols, cols, slices]) and "<name>.counts" (F32, ne = [1, slices]) per entry.
void write_input_covariance(const std::string& path, const InputCovariance& c);

}  // namespace glmq
