#pragma once
// One super-block/block quantizer per GGML type (internal to quant/; quantize_ggml dispatches to them).
// `qw` is the block's slice of the per-column importance, or null.
#include <cstdint>

namespace glmq::ggml {

void quantize_q8_0_block(const float* x, std::uint8_t* block);                    // 32 values → 34 bytes
void quantize_q6_k_block(const float* x, std::uint8_t* block, const float* qw);   // 256 values → 210 bytes
void quantize_iq4_nl_block(const float* x, std::uint8_t* block, const float* qw); // 32 values → 18 bytes

}  // namespace glmq::ggml
