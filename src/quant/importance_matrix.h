#pragma once
// Importance matrices (imatrix) as llama.cpp's llama-imatrix writes them and llama-quantize reads them
// (shared/docs/quant_gguf.md §6): per weight tensor and per expert, the sum over tokens of each input column's
// squared activation and the number of tokens counted. llama-quantize turns them into quant_weights, the
// per-column weights the GGML quantizers take (quantize_ggml's `importance`).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace glmq {

struct ImportanceEntry {  // one weight tensor's statistics, per expert (dense tensors: n_experts = 1)
  std::int64_t n_experts = 1, cols = 0;
  std::vector<float> sum_sq;  // n_experts * cols: Σ over tokens of x_col^2
  std::vector<float> counts;  // n_experts: tokens counted
  // llama-quantize's quant_weights for one expert (the mean of squares as it computes it, §6.4): sum_sq / count
  // with the count rounded to an integer first; an expert that saw no token gets all 1.0.
  std::vector<float> quant_weights(std::int64_t expert) const;
};

struct ImportanceMatrix {
  std::map<std::string, ImportanceEntry> entries;  // keyed by GGUF tensor name, e.g. "blk.3.ffn_gate_exps.weight"
  std::vector<std::string> datasets;
  std::int64_t chunk_count = 0, chunk_size = 0;
  const ImportanceEntry* find(const std::string& gguf_tensor_name) const;
};

// GGUF imatrix (§6.2) or legacy .dat (§6.3), told apart by the GGUF magic. Throws glmq::Error (Io, Format)
// naming the file, the entry and what was expected and found. A legacy file records neither the expert split
// (its entries come back with n_experts = 1 and cols = all values) nor a chunk size (0); its stored
// values are means × ncall, so they come back as sum_sq with counts = {ncall} (or {1} when ncall ≤ 0, where
// llama-quantize uses the values as they are), which gives the same quant_weights.
ImportanceMatrix read_importance_matrix(const std::string& path);
// The same from bytes in memory; `what` names them in errors.
ImportanceMatrix parse_importance_matrix(const std::uint8_t* data, std::size_t size, const std::string& what);

// GGUF format (llama.cpp's default): general.type = "imatrix", imatrix.datasets / chunk_count / chunk_size, and per
// entry "<name>.in_sum2" (F32, ne = [cols, n_experts]) and "<name>.counts" (F32, ne = [1, n_experts]), in name order.
void write_importance_matrix(const std::string& path, const ImportanceMatrix& m);

// What llama-quantize passes to the quantizer for `tensor` with rows of `cols` values in `slices` matrices (ne[2]:
// experts, or the heads of a 3-D dense weight such as attn_k_b): quant_weights of every expert, concatenated, which
// must hold exactly cols × slices values — slice s's rows use [s·cols, (s+1)·cols). llama-imatrix collapses a 3-D
// dense weight to one count, so such an entry has n_experts = 1 and cols × slices columns; both layouts work here.
// Throws ErrorKind::Shape naming the tensor when the sizes differ (llama-quantize's "imatrix size … is different
// from tensor size"; it lets only token_embd.weight through, quantized without weights).
std::vector<float> tensor_quant_weights(const ImportanceEntry& entry, const std::string& tensor, std::int64_t cols,
                                        std::int64_t slices);

}  // namespace glmq
