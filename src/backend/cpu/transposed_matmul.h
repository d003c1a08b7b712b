#pragma once
// Products with short rows (the per-head attention matrices: W_UKᵀ has 64..192 columns, W_UV 512) for many tokens.
// A dot product per output spends more on its horizontal sum than on its few multiply-adds there; instead the
// matrix is decoded to float32 once, transposed, and every output row block is accumulated as Σ_k W[:, k]·x[k] in
// vector registers (no horizontal sums). Exact weights, float32 activations.
#include <cstdint>
#include <vector>

#include "quant/weight_matrix.h"

namespace glmq::cpu {

// y[t·y_stride + r] = Σ_k W[r, k]·x[t·x_stride + k] for every row r and t < n. `scratch` holds the transposed
// matrix (reused between calls).
void transposed_matmul(const WeightMatrix& w, const float* x, std::int64_t n, std::int64_t x_stride, float* y,
                       std::int64_t y_stride, std::vector<float>& scratch);

}  // namespace glmq::cpu
