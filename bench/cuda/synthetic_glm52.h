#pragma once
// Synthetic GLM-5.2 layers (real shapes, random weights) in one of two recipes: mixed-3.5 MLX (routed experts
// affine3 g64; attention / indexer / shared expert affine4 g64) or the seed GGUF mix (routed experts IQ2_S;
// attention / indexer / shared expert IQ4_NL); router and indexer head weights bf16 in both. All MoE layers
// (no dense ones), the indexer on layer 0 and every third layer after it, a small vocabulary (the head is not
// what is measured).
#include <cstdint>
#include <memory>
#include <vector>

#include "model/weights.h"

namespace glmq::bench {

// Weight types of the quantized matrices: routed experts, and everything else quantized.
struct SyntheticRecipe {
  WeightType experts = WeightType::Affine3;
  WeightType rest = WeightType::Affine4;
};

class SyntheticGlm52 {
 public:
  // `layers` decoder layers; `shared_experts_with` non-null: reuse that model's routed experts (same bytes
  // read, less memory and setup time).
  SyntheticGlm52(std::int64_t layers, std::int64_t vocab, SyntheticRecipe recipe,
                 const SyntheticGlm52* share_experts_with = nullptr);
  const Weights& weights() const { return weights_; }
  // Bytes a decode step reads from the weights of layer l (routed experts: top-k of them).
  std::size_t decode_weight_bytes(std::int64_t layer) const;

 private:
  WeightMatrix matrix(WeightType type, std::int64_t rows, std::int64_t cols);
  std::vector<std::unique_ptr<std::uint8_t[]>> storage_;
  Weights weights_;
  std::uint64_t seed_ = 0x9e3779b97f4a7c15ull;
};

}  // namespace glmq::bench
