#include "backend/cpu/row_kernels.h"

#include <cstring>

#include "core/float_convert.h"
#include "quant/mlx_affine.h"

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

namespace {

float dot_bf16(const std::uint16_t* w, const float* x, std::int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (std::int64_t i = 0; i < n; ++i) acc += bf16_to_f32(w[i]) * x[i];
  return acc;
}

float dot_f16(const std::uint16_t* w, const float* x, std::int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (std::int64_t i = 0; i < n; ++i) acc += f16_to_f32(w[i]) * x[i];
  return acc;
}

// One group of codes: returns Σ q_i·x_i; the caller adds scale·(that) + bias·Σx_i.
template <int Bits>
float dot_codes(const std::uint8_t* row, std::int64_t first, std::int64_t count, const float* x) {
  float acc = 0.0f;
  if constexpr (Bits == 8) {
    const std::uint8_t* p = row + first;
#pragma omp simd reduction(+ : acc)
    for (std::int64_t i = 0; i < count; ++i) acc += static_cast<float>(p[i]) * x[i];
  } else if constexpr (Bits == 4) {
    const std::uint8_t* p = row + first / 2;
#pragma omp simd reduction(+ : acc)
    for (std::int64_t i = 0; i < count / 2; ++i)
      acc += static_cast<float>(p[i] & 0xf) * x[2 * i] + static_cast<float>(p[i] >> 4) * x[2 * i + 1];
  } else if constexpr (Bits == 2) {
    const std::uint8_t* p = row + first / 4;
#pragma omp simd reduction(+ : acc)
    for (std::int64_t i = 0; i < count / 4; ++i)
      acc += static_cast<float>(p[i] & 3) * x[4 * i] + static_cast<float>((p[i] >> 2) & 3) * x[4 * i + 1] +
             static_cast<float>((p[i] >> 4) & 3) * x[4 * i + 2] + static_cast<float>(p[i] >> 6) * x[4 * i + 3];
  } else {
    // 3, 5, 6 bits: codes straddle bytes; 8 codes (3/5 bits) or 4 codes (6 bits) fill whole bytes.
    for (std::int64_t i = 0; i < count; ++i) acc += static_cast<float>(affine_code(row, first + i, Bits)) * x[i];
  }
  return acc;
}

template <int Bits>
float dot_affine(const WeightMatrix& w, std::int64_t r, const float* x) {
  const std::uint8_t* row = w.row(r);
  const std::uint8_t* sc = w.scales + static_cast<std::size_t>(r) * w.aux_row_bytes();
  const std::uint8_t* bi = w.biases + static_cast<std::size_t>(r) * w.aux_row_bytes();
  const std::int64_t gs = w.group_size;
  float acc = 0.0f;
  for (std::int64_t g = 0; g < w.groups_per_row(); ++g) {
    const float* xg = x + g * gs;
    float xsum = 0.0f;
#pragma omp simd reduction(+ : xsum)
    for (std::int64_t i = 0; i < gs; ++i) xsum += xg[i];
    acc += affine_aux(sc, w.aux_type, g) * dot_codes<Bits>(row, g * gs, gs, xg) + affine_aux(bi, w.aux_type, g) * xsum;
  }
  return acc;
}

}  // namespace

float dot_row(const WeightMatrix& w, std::int64_t r, const float* x) {
  switch (w.type) {
    case WeightType::F32: return dot_f32(reinterpret_cast<const float*>(w.row(r)), x, w.cols);
    case WeightType::BF16: return dot_bf16(reinterpret_cast<const std::uint16_t*>(w.row(r)), x, w.cols);
    case WeightType::F16: return dot_f16(reinterpret_cast<const std::uint16_t*>(w.row(r)), x, w.cols);
    case WeightType::Affine2: return dot_affine<2>(w, r, x);
    case WeightType::Affine3: return dot_affine<3>(w, r, x);
    case WeightType::Affine4: return dot_affine<4>(w, r, x);
    case WeightType::Affine5: return dot_affine<5>(w, r, x);
    case WeightType::Affine6: return dot_affine<6>(w, r, x);
    case WeightType::Affine8: return dot_affine<8>(w, r, x);
  }
  return 0.0f;
}

void row_to_f32(const WeightMatrix& w, std::int64_t r, float* out) {
  switch (w.type) {
    case WeightType::F32: std::memcpy(out, w.row(r), static_cast<std::size_t>(w.cols) * sizeof(float)); return;
    case WeightType::BF16: {
      const auto* p = reinterpret_cast<const std::uint16_t*>(w.row(r));
#pragma omp simd
      for (std::int64_t i = 0; i < w.cols; ++i) out[i] = bf16_to_f32(p[i]);
      return;
    }
    case WeightType::F16: {
      const auto* p = reinterpret_cast<const std::uint16_t*>(w.row(r));
      for (std::int64_t i = 0; i < w.cols; ++i) out[i] = f16_to_f32(p[i]);
      return;
    }
    case WeightType::Affine2:
    case WeightType::Affine3:
    case WeightType::Affine4:
    case WeightType::Affine5:
    case WeightType::Affine6:
    case WeightType::Affine8: dequantize_affine_row(w, r, out); return;
  }
}

}  // namespace glmq::cpu
