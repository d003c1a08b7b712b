#include "backend/cpu/row_kernels.h"

#include <cstring>

#include "core/float_convert.h"

namespace glmq::cpu {

// The loops below are written so the compiler vectorises them (omp simd allows reassociating the sum).

float dot_f32(const float* a, const float* b, std::int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (std::int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

void axpy_f32(float a, const float* x, float* y, std::int64_t n) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

float dot_row(WeightType type, const std::uint8_t* row, const float* x, std::int64_t n) {
  switch (type) {
    case WeightType::F32: return dot_f32(reinterpret_cast<const float*>(row), x, n);
    case WeightType::BF16: {
      const auto* w = reinterpret_cast<const std::uint16_t*>(row);
      float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
      for (std::int64_t i = 0; i < n; ++i) acc += bf16_to_f32(w[i]) * x[i];
      return acc;
    }
    case WeightType::F16: {
      const auto* w = reinterpret_cast<const std::uint16_t*>(row);
      float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
      for (std::int64_t i = 0; i < n; ++i) acc += f16_to_f32(w[i]) * x[i];
      return acc;
    }
  }
  return 0.0f;
}

void axpy_row(WeightType type, const std::uint8_t* row, float a, float* y, std::int64_t n) {
  switch (type) {
    case WeightType::F32: axpy_f32(a, reinterpret_cast<const float*>(row), y, n); return;
    case WeightType::BF16: {
      const auto* w = reinterpret_cast<const std::uint16_t*>(row);
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) y[i] += a * bf16_to_f32(w[i]);
      return;
    }
    case WeightType::F16: {
      const auto* w = reinterpret_cast<const std::uint16_t*>(row);
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) y[i] += a * f16_to_f32(w[i]);
      return;
    }
  }
}

void row_to_f32(WeightType type, const std::uint8_t* row, float* out, std::int64_t n) {
  switch (type) {
    case WeightType::F32: std::memcpy(out, row, static_cast<std::size_t>(n) * sizeof(float)); return;
    case WeightType::BF16: {
      const auto* w = reinterpret_cast<const std::uint16_t*>(row);
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(w[i]);
      return;
    }
    case WeightType::F16: {
      const auto* w = reinterpret_cast<const std::uint16_t*>(row);
      for (std::int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(w[i]);
      return;
    }
  }
}

}  // namespace glmq::cpu
