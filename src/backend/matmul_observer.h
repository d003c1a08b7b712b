#pragma once
// A hook into the CPU backend's matrix products, for statistics over the activations a model actually sees
// (glmq imatrix's importance matrix): before a weight multiplies input rows, the backend shows both to the
// observer. Observing never changes what the backend computes.
#include <cstdint>

#include "quant/weight_matrix.h"

namespace glmq {

class MatmulObserver {
 public:
  virtual ~MatmulObserver() = default;
  // `w` is about to multiply `n` input rows of w.cols floats each, `stride` floats apart from `x` (host memory).
  // A slice of a stacked weight (one routed expert, one attention head of attn_k_b / attn_v_b) arrives as a view
  // of its own: its data pointer lies inside the stack, which tells the observer which slice it is. Calls come
  // from one thread at a time.
  virtual void observe(const WeightMatrix& w, const float* x, std::int64_t n, std::int64_t stride) = 0;
};

}  // namespace glmq
