#pragma once
// Collects llama-imatrix's statistics (shared/docs/quant_gguf.md §6.1) while the CPU backend runs a model: for
// every weight that multiplies activations, Σx² per input column and the number of input rows, keyed by the GGUF
// tensor names llama.cpp gives glm-dsa's weights. As llama-imatrix does:
//  - routed experts (ffn_{gate,up,down}_exps) keep one sum and one count per expert, counting only the tokens
//    routed to that expert;
//  - the per-head halves of kv_b (attn_k_b, attn_v_b) keep one sum per head, laid end to end, and one count;
//  - the embedding and the LM head are not collected (llama-imatrix needs --process-output for the head), nor is
//    the MTP layer, which perplexity-style runs never execute.
// Sums accumulate in float32 in token order, as llama-imatrix's do; like it, products over fewer than 16 rows are
// skipped except the routed experts'.
// With `collect_covariance` it also sums, per weight and per slice (routed expert or attention head), the full
// input covariance Σ xᵀx of every product it sees (no row minimum: error feedback wants every input), for
// covariance_result() and error-feedback quantization, the LM head's included (as "output.weight").
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/matmul_observer.h"
#include "model/weights.h"
#include "quant/importance_matrix.h"
#include "quant/input_covariance.h"

namespace glmq {

class ImportanceCollector : public MatmulObserver {
 public:
  explicit ImportanceCollector(const Weights& weights, bool collect_covariance = false);

  void observe(const WeightMatrix& w, const float* x, std::int64_t n, std::int64_t stride) override;

  // The statistics so far as an importance matrix (datasets and chunk counts left for the caller); throws
  // ErrorKind::InvalidArgument naming the tensor if a sum is not finite (llama-imatrix refuses those too).
  ImportanceMatrix result() const;
  // The covariance sums so far (empty entries when not collecting); throws like result() on non-finite sums.
  InputCovariance covariance_result() const;

 private:
  // One weight's sums (float32, as llama-imatrix adds them) and exact row counts.
  struct Accumulator {
    std::int64_t n_counts = 1, cols = 0;  // as ImportanceEntry's n_experts and cols
    bool routed = false;                  // routed experts: counted per expert, short batches included
    bool covariance_only = false;         // the LM head: in covariance_result() only
    std::vector<float> sum_sq;
    std::vector<std::int64_t> counts;
    std::int64_t slices = 1, slice_cols = 0;  // covariance: one cols × cols matrix per slice
    std::vector<float> xtx;                   // upper triangles (j ≥ i) summed; mirrored in covariance_result()
    std::vector<std::int64_t> xtx_counts;
  };
  // Where one weight view's statistics go.
  struct Slot {
    Accumulator* acc = nullptr;        // null: a weight seen but not collected (LM head)
    std::int64_t offset = 0;           // first sum of this view in acc->sum_sq
    std::int64_t count_index = 0;      // which count it adds to
    std::int64_t slice = 0;            // which covariance matrix it adds to
    bool adds_count = true;            // false for heads after the first of a per-head weight (one count per call)
    std::int64_t cols = 0;
  };
  // Slice `slice` of `slices` of the weight `name`: its own count when `count_per_slice` (experts), else one
  // count for all slices (attention heads); an unstacked weight is slice 0 of 1.
  void add(const std::string& name, const WeightMatrix& w, std::int64_t slice = 0, std::int64_t slices = 1,
           bool count_per_slice = false);
  void add_layer(const std::string& prefix, const LayerWeights& layer, const GlmConfig& c);
  void ignore(const WeightMatrix& w);

  void add_covariance(Accumulator& acc, std::int64_t slice, const float* x, std::int64_t n, std::int64_t stride);

  bool collect_covariance_ = false;
  std::map<std::string, Accumulator> accumulators_;
  std::unordered_map<const std::uint8_t*, Slot> slots_;
};

}  // namespace glmq
