#include "quant/mlx_affine.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/float_convert.h"
#include "quant/mlx_affine_unpack.h"

namespace glmq {

namespace {

float round_to(WeightType type, float v) {
  switch (type) {
    case WeightType::BF16: return bf16_to_f32(f32_to_bf16(v));
    case WeightType::F16: return f16_to_f32(f32_to_f16(v));
    default: return v;
  }
}

void store_aux(std::uint8_t* dst, WeightType type, std::int64_t g, float v) {
  switch (type) {
    case WeightType::F32: std::memcpy(dst + 4 * g, &v, 4); return;
    case WeightType::F16: {
      std::uint16_t h = f32_to_f16(v);
      std::memcpy(dst + 2 * g, &h, 2);
      return;
    }
    case WeightType::BF16: {
      std::uint16_t h = f32_to_bf16(v);
      std::memcpy(dst + 2 * g, &h, 2);
      return;
    }
    default: fail(ErrorKind::DType, "affine scales must be F32, F16 or BF16, not " + std::string(weight_type_name(type)));
  }
}

}  // namespace

void affine_codes_to_f32(const std::uint8_t* row, std::int64_t first, std::int64_t count, int bits, float* out) {
  switch (bits) {
    case 2: affine_unpack<2>(row, first, count, out); return;
    case 3: affine_unpack<3>(row, first, count, out); return;
    case 4: affine_unpack<4>(row, first, count, out); return;
    case 5: affine_unpack<5>(row, first, count, out); return;
    case 6: affine_unpack<6>(row, first, count, out); return;
    case 8: affine_unpack<8>(row, first, count, out); return;
    default: fail(ErrorKind::InvalidArgument, "affine bits must be 2, 3, 4, 5, 6 or 8, not " + std::to_string(bits));
  }
}

float affine_aux(const std::uint8_t* aux, WeightType aux_type, std::int64_t g) {
  switch (aux_type) {
    case WeightType::F32: {
      float v;
      std::memcpy(&v, aux + 4 * g, 4);
      return v;
    }
    case WeightType::F16: {
      std::uint16_t h;
      std::memcpy(&h, aux + 2 * g, 2);
      return f16_to_f32(h);
    }
    case WeightType::BF16: {
      std::uint16_t h;
      std::memcpy(&h, aux + 2 * g, 2);
      return bf16_to_f32(h);
    }
    default: return 0.0f;
  }
}

void dequantize_affine_row(const WeightMatrix& w, std::int64_t r, float* out, bool mlx_rounding) {
  const int bits = affine_bits(w.type);
  const std::uint8_t* row = w.row(r);
  const std::uint8_t* sc = w.scales + static_cast<std::size_t>(r) * w.aux_row_bytes();
  const std::uint8_t* bi = w.biases + static_cast<std::size_t>(r) * w.aux_row_bytes();
  affine_codes_to_f32(row, 0, w.cols, bits, out);
  for (std::int64_t g = 0; g < w.groups_per_row(); ++g) {
    const float s = affine_aux(sc, w.aux_type, g), b = affine_aux(bi, w.aux_type, g);
    float* o = out + g * w.group_size;
    if (mlx_rounding) {
      for (std::int64_t i = 0; i < w.group_size; ++i) o[i] = round_to(w.aux_type, round_to(w.aux_type, s * o[i]) + b);
    } else {
#pragma omp simd
      for (std::int64_t i = 0; i < w.group_size; ++i) o[i] = s * o[i] + b;
    }
  }
}

AffineQuantized quantize_affine(const float* w, std::int64_t rows, std::int64_t cols, int bits, std::int64_t group_size,
                                WeightType aux_type) {
  if (!affine_type_for_bits(bits)) fail(ErrorKind::InvalidArgument, "affine bits must be 2, 3, 4, 5, 6 or 8, not " + std::to_string(bits));
  if (group_size != 32 && group_size != 64 && group_size != 128)
    fail(ErrorKind::InvalidArgument, "affine group size must be 32, 64 or 128, not " + std::to_string(group_size));
  if (cols % group_size != 0)
    fail(ErrorKind::Shape, "row length " + std::to_string(cols) + " is not a multiple of the group size " + std::to_string(group_size));
  const WeightType type = *affine_type_for_bits(bits);
  const std::size_t row_bytes = weight_row_bytes(type, static_cast<std::size_t>(cols));
  const std::int64_t groups = cols / group_size;
  const std::size_t aux_bytes = weight_row_bytes(aux_type, static_cast<std::size_t>(groups));
  AffineQuantized out;
  out.codes.assign(static_cast<std::size_t>(rows) * row_bytes, 0);
  out.scales.assign(static_cast<std::size_t>(rows) * aux_bytes, 0);
  out.biases.assign(static_cast<std::size_t>(rows) * aux_bytes, 0);
  const float n_bins = static_cast<float>((1 << bits) - 1);
  constexpr float eps = 1e-7f;
  for (std::int64_t r = 0; r < rows; ++r) {
    std::uint8_t* codes = out.codes.data() + static_cast<std::size_t>(r) * row_bytes;
    for (std::int64_t g = 0; g < groups; ++g) {
      const float* v = w + r * cols + g * group_size;
      float w_min = std::numeric_limits<float>::infinity(), w_max = -w_min;
      for (std::int64_t i = 0; i < group_size; ++i) {
        w_min = std::min(w_min, v[i]);
        w_max = std::max(w_max, v[i]);
      }
      // Anchor the grid at the end with the larger magnitude and make 0 exactly representable.
      const float s0 = std::max((w_max - w_min) / n_bins, eps);
      const bool side = std::fabs(w_min) > std::fabs(w_max);
      float scale = side ? s0 : -s0;
      const float edge = side ? w_min : w_max;
      const float q0 = std::rint(edge / scale);
      float bias = 0.0f;
      if (q0 != 0.0f) {
        scale = edge / q0;
        bias = edge;
      }
      for (std::int64_t i = 0; i < group_size; ++i) {
        const float q = std::clamp(std::rint((v[i] - bias) / scale), 0.0f, n_bins);
        const auto code = static_cast<std::uint64_t>(q);
        const std::uint64_t bit = static_cast<std::uint64_t>(g * group_size + i) * static_cast<std::uint64_t>(bits);
        codes[bit / 8] |= static_cast<std::uint8_t>((code << (bit % 8)) & 0xffu);
        if (bit % 8 + static_cast<std::uint64_t>(bits) > 8) codes[bit / 8 + 1] |= static_cast<std::uint8_t>(code >> (8 - bit % 8));
      }
      store_aux(out.scales.data() + static_cast<std::size_t>(r) * aux_bytes, aux_type, g, scale);
      store_aux(out.biases.data() + static_cast<std::size_t>(r) * aux_bytes, aux_type, g, bias);
    }
  }
  return out;
}

}  // namespace glmq
