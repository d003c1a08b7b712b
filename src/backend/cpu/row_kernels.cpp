#include "backend/cpu/row_kernels.h"

#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "core/float_convert.h"
#include "quant/ggml_block_decode.h"
#include "quant/ggml_dequantize.h"
#include "quant/mlx_affine.h"
#include "quant/mlx_affine_unpack.h"

namespace glmq::cpu {

// The loops below are written so the compiler vectorises them (omp simd allows reassociating the sum).

float dot_f32(const float* a, const float* b, std::int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (std::int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

float dot_f32_unrolled(const float* a, const float* b, std::int64_t n) {
#if defined(__AVX512F__)
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  std::int64_t i = 0;
  for (; i + 64 <= n; i += 64)
    for (int k = 0; k < 4; ++k) acc[k] = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16 * k), _mm512_loadu_ps(b + i + 16 * k), acc[k]);
  for (; i + 16 <= n; i += 16) acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc[0]);
  float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
#else
  return dot_f32(a, b, n);
#endif
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

inline float aux_value(const std::uint8_t* aux, WeightType type, std::int64_t g) {
  switch (type) {
    case WeightType::BF16: return bf16_to_f32(reinterpret_cast<const std::uint16_t*>(aux)[g]);
    case WeightType::F16: return f16_to_f32(reinterpret_cast<const std::uint16_t*>(aux)[g]);
    default: return reinterpret_cast<const float*>(aux)[g];
  }
}

// Σ_i (scale_g·q_i + bias_g)·x_i. The codes are unpacked group by group into a small L1-resident float buffer
// and accumulated in 16 lanes that live across groups, so there is one horizontal sum per row, not per group.
template <int Bits>
float dot_affine(const WeightMatrix& w, std::int64_t r, const float* x) {
  const std::uint8_t* row = w.row(r);
  const std::uint8_t* sc = w.scales + static_cast<std::size_t>(r) * w.aux_row_bytes();
  const std::uint8_t* bi = w.biases + static_cast<std::size_t>(r) * w.aux_row_bytes();
  const std::int64_t gs = w.group_size;
  alignas(64) float codes[128];
  alignas(64) float lanes[16] = {};
  for (std::int64_t g = 0; g < w.groups_per_row(); ++g) {
    const float* xg = x + g * gs;
    affine_unpack<Bits>(row, g * gs, gs, codes);
    const float s = aux_value(sc, w.aux_type, g), b = aux_value(bi, w.aux_type, g);
    for (std::int64_t i = 0; i < gs; i += 16)
#pragma omp simd
      for (int j = 0; j < 16; ++j) lanes[j] += (s * codes[i + j] + b) * xg[i + j];
  }
  float acc = 0.0f;
  for (float v : lanes) acc += v;
  return acc;
}

// GGML block types: decode one block at a time into an L1-resident buffer, accumulate in 16 lanes.
template <void (*Decode)(const std::uint8_t*, float*), int BlockElems>
float dot_ggml(const WeightMatrix& w, std::int64_t r, const float* x) {
  const std::uint8_t* row = w.row(r);
  const std::size_t block_bytes = weight_block_bytes(w.type);
  alignas(64) float values[BlockElems];
  alignas(64) float lanes[16] = {};
  for (std::int64_t b = 0; b < w.cols / BlockElems; ++b) {
    Decode(row + static_cast<std::size_t>(b) * block_bytes, values);
    const float* xb = x + b * BlockElems;
    for (int i = 0; i < BlockElems; i += 16)
#pragma omp simd
      for (int j = 0; j < 16; ++j) lanes[j] += values[i + j] * xb[i + j];
  }
  float acc = 0.0f;
  for (float v : lanes) acc += v;
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
    case WeightType::Q8_0: return dot_ggml<ggml::decode_q8_0, 32>(w, r, x);
    case WeightType::Q4_0: return dot_ggml<ggml::decode_q4_0, 32>(w, r, x);
    case WeightType::Q5_0: return dot_ggml<ggml::decode_q5_0, 32>(w, r, x);
    case WeightType::Q5_1: return dot_ggml<ggml::decode_q5_1, 32>(w, r, x);
    case WeightType::Q2_K: return dot_ggml<ggml::decode_q2_k, 256>(w, r, x);
    case WeightType::Q3_K: return dot_ggml<ggml::decode_q3_k, 256>(w, r, x);
    case WeightType::Q4_K: return dot_ggml<ggml::decode_q4_k, 256>(w, r, x);
    case WeightType::Q5_K: return dot_ggml<ggml::decode_q5_k, 256>(w, r, x);
    case WeightType::Q6_K: return dot_ggml<ggml::decode_q6_k, 256>(w, r, x);
    case WeightType::IQ4_NL: return dot_ggml<ggml::decode_iq4_nl, 32>(w, r, x);
    case WeightType::IQ4_XS: return dot_ggml<ggml::decode_iq4_xs, 256>(w, r, x);
    case WeightType::IQ2_XXS: return dot_ggml<ggml::decode_iq2_xxs, 256>(w, r, x);
    case WeightType::IQ2_S: return dot_ggml<ggml::decode_iq2_s, 256>(w, r, x);
    case WeightType::IQ3_S: return dot_ggml<ggml::decode_iq3_s, 256>(w, r, x);
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
    case WeightType::Q8_0:
    case WeightType::Q4_0:
    case WeightType::Q5_0:
    case WeightType::Q5_1:
    case WeightType::Q2_K:
    case WeightType::Q3_K:
    case WeightType::Q4_K:
    case WeightType::Q5_K:
    case WeightType::Q6_K:
    case WeightType::IQ4_NL:
    case WeightType::IQ4_XS:
    case WeightType::IQ2_XXS:
    case WeightType::IQ2_S:
    case WeightType::IQ3_S: dequantize_ggml(w.type, w.row(r), out, w.cols); return;
  }
}

}  // namespace glmq::cpu
