#pragma once
// Row units: the piece of a weight row one lane decodes per step of the fused matvec, per weight type.
// Each unit type gives
//   kElems            elements per unit (a row is cols / kElems units),
//   kBatch            units per lane whose loads are issued before the first is decoded,
//   Row / row()       what load() needs of one row (its pointers), computed once per row into registers,
//   Raw / load()      the unit's bytes (codes, scales) of one row, loaded into registers,
//   X / load_x()      the unit's activations (and the sums the decode needs), loaded once for all rows from
//                     the warp's staged copy (staged_at; unit index relative to the staged range), or from
//                     global memory for units with kStaged false,
//   dot()             Σ w·x over the unit.
// Splitting load from dot lets a lane keep kBatch × rows units of loads in flight before it waits on any.
#include "backend/cuda/ggml_units.cuh"
#include "backend/cuda/weight_decode.cuh"

namespace glmq::cuda {

// MLX affine B-bit: 32 codes per unit (B words), scale and bias of the unit's group.
template <int B>
struct AffineUnit {
  // Odd widths need funnel shifts for codes that straddle words: decode-bound already, one unit per step keeps
  // registers (and so resident warps) up; the others batch two units to keep more loads in flight.
  static constexpr int kElems = 32, kBatch = B % 2 ? 1 : 2;
  static constexpr bool kStaged = true;
  struct Raw { std::uint32_t w[B]; float s, b; };
  struct X { float v[32]; float sum; };
  struct Row { const std::uint8_t *codes, *scales, *biases; WeightType aux_type; int group_shift; };
  __device__ static Row row(const DeviceWeight& w, std::int64_t r) {
    // Group sizes on this path are powers of two (fast_path_applies): a shift, not a division.
    return {w.data + r * w.row_bytes, w.scales + r * w.aux_row_bytes, w.biases + r * w.aux_row_bytes, w.aux_type,
            __ffs(w.group_size) - 1};
  }
  __device__ static void load(const Row& w, int u, Raw& r) {
    load_code_words<B>(w.codes + u * 4 * B, r.w);
    const int g = (u * 32) >> w.group_shift;
    r.s = aux_value(w.scales, w.aux_type, 2 * g);  // interleaved pairs (device_weight.h)
    r.b = aux_value(w.biases, w.aux_type, 2 * g);
  }
  __device__ static void load_x(const float* x, int u, X& o) {
    load_x_run<32>(staged_at(x, 32 * static_cast<int>(u)), o.v);
    o.sum = run_sum<32>(o.v);
  }
  __device__ static float dot(const Raw& r, const X& x, const Codebook&) {
    // Σ (1 + q/2^B)·x − Σx = Σ q·x / 2^B.
    const float qx = (affine_chunk_dot<B>(r.w, x.v) - x.sum) * static_cast<float>(1 << B);
    return fmaf(r.s, qx, r.b * x.sum);
  }
};

// F32 / BF16 / F16: 8 elements (one or two 16-byte loads) per unit.
template <int KIND>
struct FloatUnit {
  static constexpr int kElems = 8, kBatch = 4;
  static constexpr bool kStaged = true;
  struct Raw { uint4 a, b; };
  struct X { float v[8]; };
  struct Row { const uint4* p; };
  __device__ static Row row(const DeviceWeight& w, std::int64_t r) {
    return {reinterpret_cast<const uint4*>(w.data + r * w.row_bytes)};
  }
  __device__ static void load(const Row& w, int u, Raw& r) {
    const uint4* p = w.p;
    if constexpr (KIND == kind_of(WeightType::F32)) {
      r.a = __ldg(p + 2 * u);
      r.b = __ldg(p + 2 * u + 1);
    } else {
      r.a = __ldg(p + u);
    }
  }
  __device__ static void load_x(const float* x, int u, X& o) { load_x_run<8>(staged_at(x, 8 * static_cast<int>(u)), o.v); }
  __device__ static float dot(const Raw& r, const X& x, const Codebook&) {
    const std::uint32_t u[4] = {r.a.x, r.a.y, r.a.z, r.a.w};
    float acc = 0.0f;
    if constexpr (KIND == kind_of(WeightType::F32)) {
      const std::uint32_t v[4] = {r.b.x, r.b.y, r.b.z, r.b.w};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        acc = fmaf(__uint_as_float(u[j]), x.v[j], acc);
        acc = fmaf(__uint_as_float(v[j]), x.v[4 + j], acc);
      }
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if constexpr (KIND == kind_of(WeightType::BF16)) {
          acc = fmaf(__uint_as_float(u[j] << 16), x.v[2 * j], acc);
          acc = fmaf(__uint_as_float(u[j] & 0xffff0000u), x.v[2 * j + 1], acc);
        } else {
          acc = fmaf(f16_bits_to_float(u[j] & 0xffffu), x.v[2 * j], acc);
          acc = fmaf(f16_bits_to_float(u[j] >> 16), x.v[2 * j + 1], acc);
        }
      }
    }
    return acc;
  }
};

// Any type and shape, one element per unit (odd shapes, misaligned activations).
struct GenericUnit {
  static constexpr int kElems = 1, kBatch = 4;
  static constexpr bool kStaged = false;  // reads x in place (any alignment)
  struct Raw { float v; };
  struct X { float v; };
  struct Row { const DeviceWeight* w; std::int64_t r; };
  __device__ static Row row(const DeviceWeight& w, std::int64_t r) { return {&w, r}; }
  __device__ static void load(const Row& w, int u, Raw& r) { r.v = weight_element(*w.w, w.r, u); }
  __device__ static void load_x(const float* x, int u, X& o) { o.v = x[u]; }
  __device__ static float dot(const Raw& r, const X& x, const Codebook&) { return r.v * x.v; }
};

template <int KIND>
struct RowUnitOf {
  using type = GenericUnit;
};
template <> struct RowUnitOf<kind_of(WeightType::F32)> { using type = FloatUnit<kind_of(WeightType::F32)>; };
template <> struct RowUnitOf<kind_of(WeightType::BF16)> { using type = FloatUnit<kind_of(WeightType::BF16)>; };
template <> struct RowUnitOf<kind_of(WeightType::F16)> { using type = FloatUnit<kind_of(WeightType::F16)>; };
template <> struct RowUnitOf<kind_of(WeightType::Affine2)> { using type = AffineUnit<2>; };
template <> struct RowUnitOf<kind_of(WeightType::Affine3)> { using type = AffineUnit<3>; };
template <> struct RowUnitOf<kind_of(WeightType::Affine4)> { using type = AffineUnit<4>; };
template <> struct RowUnitOf<kind_of(WeightType::Affine5)> { using type = AffineUnit<5>; };
template <> struct RowUnitOf<kind_of(WeightType::Affine6)> { using type = AffineUnit<6>; };
template <> struct RowUnitOf<kind_of(WeightType::Affine8)> { using type = AffineUnit<8>; };
template <> struct RowUnitOf<kind_of(WeightType::Q8_0)> { using type = Q8_0Unit; };
template <> struct RowUnitOf<kind_of(WeightType::Q4_0)> { using type = Q4_0Unit; };
template <> struct RowUnitOf<kind_of(WeightType::Q5_0)> { using type = Q5_0Unit; };
template <> struct RowUnitOf<kind_of(WeightType::Q5_1)> { using type = Q5_1Unit; };
template <> struct RowUnitOf<kind_of(WeightType::Q2_K)> { using type = Q2KUnit; };
template <> struct RowUnitOf<kind_of(WeightType::Q3_K)> { using type = Q3KUnit; };
template <> struct RowUnitOf<kind_of(WeightType::Q4_K)> { using type = Q4KUnit; };
template <> struct RowUnitOf<kind_of(WeightType::Q5_K)> { using type = Q5KUnit; };
template <> struct RowUnitOf<kind_of(WeightType::Q6_K)> { using type = Q6KUnit; };
template <> struct RowUnitOf<kind_of(WeightType::IQ4_NL)> { using type = Iq4NlUnit; };
template <> struct RowUnitOf<kind_of(WeightType::IQ4_XS)> { using type = Iq4XsUnit; };
template <> struct RowUnitOf<kind_of(WeightType::IQ2_XXS)> { using type = Iq2XxsUnit; };
template <> struct RowUnitOf<kind_of(WeightType::IQ2_S)> { using type = Iq2SUnit; };
template <> struct RowUnitOf<kind_of(WeightType::IQ3_S)> { using type = Iq3SUnit; };

template <int KIND>
using RowUnit = typename RowUnitOf<KIND>::type;

}  // namespace glmq::cuda
