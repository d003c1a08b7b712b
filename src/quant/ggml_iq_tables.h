#pragma once
// Lookup tables of the GGML i-quants (data from ggml's ggml-common.h via gguf-py; see ggml_iq_tables.cpp).
#include <cstdint>

namespace glmq::ggml {

extern const std::uint64_t kIq2xxsGrid[256];  // IQ2_XXS: 8 magnitudes ∈ {8, 25, 43} per entry, byte j = element j
extern const std::uint64_t kIq2sGrid[1024];   // IQ2_S
extern const std::uint32_t kIq3sGrid[512];    // IQ3_S: 4 magnitudes ∈ {1, 3, …, 15}
extern const std::uint8_t kSignsIq2[128];     // 7 sign bits + parity bit (an even number of negatives)
extern const std::int8_t kValuesIq4nl[16];    // IQ4_NL / IQ4_XS non-linear levels

}  // namespace glmq::ggml
