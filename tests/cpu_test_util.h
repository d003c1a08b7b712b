#pragma once
// Test weights in every stored type, with the float values they really hold (shared by the CPU op and kernel tests).
#include <cstring>
#include <random>
#include <vector>

#include "core/float_convert.h"
#include "quant/ggml_dequantize.h"
#include "quant/mlx_affine.h"
#include "quant/weight_matrix.h"

namespace glmq::test {

inline std::vector<float> random_vec(std::size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// A weight stored in `type`, with the float values it really holds (after rounding to that type).
struct TestWeight {
  WeightType type;
  std::vector<std::uint8_t> bytes;
  std::vector<float> values;
  std::vector<std::vector<std::uint8_t>> aux;  // scales and biases of affine weights
  WeightMatrix m;
};

// Affine types take `group_size` inputs per scale and bias, stored as `aux_type`; other types ignore both.
inline TestWeight make_weight(WeightType type, std::int64_t rows, std::int64_t cols, std::mt19937& rng,
                              std::int64_t group_size = 32, WeightType aux_type = WeightType::BF16) {
  TestWeight w;
  w.type = type;
  auto v = random_vec(static_cast<std::size_t>(rows * cols), rng, 0.2f);
  if (is_affine(type)) {
    // Quantize, then keep the values the codes really decode to.
    AffineQuantized q = quantize_affine(v.data(), rows, cols, affine_bits(type), group_size, aux_type);
    w.bytes = std::move(q.codes);
    w.aux.push_back(std::move(q.scales));
    w.aux.push_back(std::move(q.biases));
    w.m = WeightMatrix{type, rows, cols, w.bytes.data(), w.aux[0].data(), w.aux[1].data(), aux_type, group_size};
    w.values.resize(v.size());
    for (std::int64_t r = 0; r < rows; ++r) dequantize_affine_row(w.m, r, w.values.data() + r * cols);
    return w;
  }
  w.bytes.resize(weight_row_bytes(type, static_cast<std::size_t>(cols)) * static_cast<std::size_t>(rows));
  w.values.resize(v.size());
  if (is_ggml_block(type)) {
    // Random blocks whose fp16 scale fields hold small finite values; the kernels must agree with the
    // reference dequantizer on whatever the other bits say.
    std::uniform_int_distribution<int> byte(0, 255);
    for (auto& b : w.bytes) b = static_cast<std::uint8_t>(byte(rng));
    const std::size_t bb = weight_block_bytes(type);
    std::vector<std::size_t> f16_fields = {0};
    if (type == WeightType::Q2_K) f16_fields = {80, 82};
    if (type == WeightType::Q3_K) f16_fields = {108};
    if (type == WeightType::Q4_K || type == WeightType::Q5_K || type == WeightType::Q5_1) f16_fields = {0, 2};
    if (type == WeightType::Q6_K) f16_fields = {208};
    for (std::size_t off = 0; off < w.bytes.size(); off += bb)
      for (std::size_t f : f16_fields) {
        const std::uint16_t h = f32_to_f16(std::uniform_real_distribution<float>(-0.0005f, 0.0005f)(rng));
        std::memcpy(w.bytes.data() + off + f, &h, 2);
      }
    dequantize_ggml(type, w.bytes.data(), w.values.data(), rows * cols);
    w.m = WeightMatrix{type, rows, cols, w.bytes.data()};
    return w;
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (type == WeightType::F32) {
      std::memcpy(w.bytes.data() + 4 * i, &v[i], 4);
      w.values[i] = v[i];
    } else {
      std::uint16_t h = type == WeightType::BF16 ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
      std::memcpy(w.bytes.data() + 2 * i, &h, 2);
      w.values[i] = type == WeightType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
    }
  }
  w.m = WeightMatrix{type, rows, cols, w.bytes.data()};
  return w;
}

}  // namespace glmq::test
