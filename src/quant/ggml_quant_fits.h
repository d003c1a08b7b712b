#pragma once
// The scale fits ggml's K-quants share (ggml-quants.c make_qx_quants, make_q3_quants, make_qkx2_quants,
// make_qkx3_quants, make_qp_quants; quant_gguf.md §5.3), ported operation for operation: every sum is a sequential
// float accumulation in index order and every product keeps ggml's evaluation order, because the bytes
// llama-quantize writes depend on the last bit of these scales. Compile users with -ffp-contract=off.
#include <cstdint>

namespace glmq::ggml {

// Symmetric fit x ≈ scale·l, l ∈ [−nmax, nmax−1], searched over 19 inverse scales by weighted least squares
// (ggml's rmse_type 1: weights `qw`, or x² when null). L receives l + nmax. Returns the scale (may be negative).
float make_qx_quants(int n, int nmax, const float* x, std::int8_t* L, const float* qw);

// Q3_K's unweighted-by-imatrix fit (make_q3_quants with do_rmse): symmetric levels [−nmax, nmax−1] weighted by x²,
// then up to 5 passes of coordinate descent on single levels. L receives l + nmax. Returns the scale.
float make_q3_quants(int n, int nmax, const float* x, std::int8_t* L);

// Asymmetric fit x ≈ scale·L + min with L ∈ [0, nmax] and min ≤ 0, trying nstep + 1 inverse scales
// (rmin + rdelta·is + nmax)/(max − min) and solving the weighted 2×2 least squares for each; the error is squared
// or absolute (use_mad). `weights` must not be null. Returns the scale; *the_min gets −min (≥ 0).
// make_qkx2_quants is the no-imatrix form; make_qkx3_quants differs in its all-equal test (max ≤ min) and in
// guarding the candidate levels against inf/NaN (v > 0 ? nearest_int(min(v, nmax)) : 0).
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, std::uint8_t* L, float* the_min,
                       std::uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad);
float make_qkx3_quants(int n, int nmax, const float* x, const float* weights, std::uint8_t* L, float* the_min,
                       std::uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad);

// Positive-only fit x ≈ scale·L, L ∈ [0, nmax], weighted by `quant_weights` (not null): 9 trial inverse scales, then
// up to 5 passes of coordinate descent. Quantizes a super-block's sub-block scales/mins. Returns the scale.
float make_qp_quants(int n, int nmax, const float* x, std::uint8_t* L, const float* quant_weights);

}  // namespace glmq::ggml
