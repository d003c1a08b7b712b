#pragma once
// One super-block/block quantizer per GGML type (internal to quant/; quantize_ggml dispatches to them).
// `qw` is the block's slice of the per-column importance, or null; with it the K-quants switch from ggml's _ref
// algorithm to its _impl one, exactly as quantize_<type> does.
#include <cstdint>

namespace glmq::ggml {

void quantize_q8_0_block(const float* x, std::uint8_t* block);                    // 32 values → 34 bytes
void quantize_q2_k_block(const float* x, std::uint8_t* block, const float* qw);   // 256 values → 84 bytes
void quantize_q3_k_block(const float* x, std::uint8_t* block, const float* qw);   // 256 values → 110 bytes
void quantize_q4_k_block(const float* x, std::uint8_t* block, const float* qw);   // 256 values → 144 bytes
void quantize_q5_k_block(const float* x, std::uint8_t* block, const float* qw);   // 256 values → 176 bytes
void quantize_q6_k_block(const float* x, std::uint8_t* block, const float* qw);   // 256 values → 210 bytes
void quantize_iq4_nl_block(const float* x, std::uint8_t* block, const float* qw); // 32 values → 18 bytes
void quantize_iq4_xs_block(const float* x, std::uint8_t* block, const float* qw); // 256 values → 136 bytes
void quantize_iq2_s_block(const float* x, std::uint8_t* block, const float* qw);  // 256 values → 82 bytes
void quantize_iq3_s_block(const float* x, std::uint8_t* block, const float* qw);  // 256 values → 110 bytes
// IQ2_XXS has no unweighted form in ggml: `qw` must not be null (it fails with InvalidArgument if it is).
void quantize_iq2_xxs_block(const float* x, std::uint8_t* block, const float* qw); // 256 values → 66 bytes

// Error feedback (ggml_error_feedback.cpp): re-chooses group `group` (0..31, 8 elements) of an IQ2_S block under its
// block's existing scales, nearest to x (signed) under weights w: the group's grid point and signs are rewritten.
void requantize_iq2_s_group(std::uint8_t* block, int group, const float* x, const float* w);

// The 32-element Q4_0/Q5_0/Q5_1 quantize whole rows (cols a multiple of 32): with an importance `qw` (the row's
// columns) their weights use the mean square of the entire row, not of one block.
void quantize_q4_0_row(const float* x, std::uint8_t* row, std::int64_t cols, const float* qw);  // 18 bytes / 32
void quantize_q5_0_row(const float* x, std::uint8_t* row, std::int64_t cols, const float* qw);  // 22 bytes / 32
void quantize_q5_1_row(const float* x, std::uint8_t* row, std::int64_t cols, const float* qw);  // 24 bytes / 32
// Their σ² (Σ x² / n over the row) and one block of them given it (what the row forms do block by block), for
// error feedback, which quantizes a row block by block but must weight every block by the original row's σ².
float row_mean_square(const float* x, std::int64_t n);
void quantize_q4_0_block(const float* x, std::uint8_t* block, const float* qw, float sigma2);  // 32 values → 18 bytes
void quantize_q5_0_block(const float* x, std::uint8_t* block, const float* qw, float sigma2);  // 32 values → 22 bytes
void quantize_q5_1_block(const float* x, std::uint8_t* block, const float* qw, float sigma2);  // 32 values → 24 bytes

}  // namespace glmq::ggml
