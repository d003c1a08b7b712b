#pragma once
// Per-row kernels on weights in their stored type; the building blocks of the CPU ops.
#include <cstdint>

#include "quant/weight_type.h"

namespace glmq::cpu {

float dot_f32(const float* a, const float* b, std::int64_t n);
// Σ row[i]·x[i] with the row in its stored type.
float dot_row(WeightType type, const std::uint8_t* row, const float* x, std::int64_t n);
// y[i] += a · row[i]
void axpy_row(WeightType type, const std::uint8_t* row, float a, float* y, std::int64_t n);
void axpy_f32(float a, const float* x, float* y, std::int64_t n);
void row_to_f32(WeightType type, const std::uint8_t* row, float* out, std::int64_t n);

}  // namespace glmq::cpu
