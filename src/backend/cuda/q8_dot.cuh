#pragma once
// The int8 decode-path core: a group of LANES lanes computes R row·x dot products over units [begin, end) of
// the rows (units of 32 weights, q8_units.cuh). Each lane takes units begin + lane, begin + lane + LANES, …;
// a step is NB units of all R rows, whose loads are all issued before any of them is decoded. Where two
// steps fit in registers (q8_pipelined), the steps are software-pipelined: the loads of the step after next
// are issued as soon as a step is decoded, so a lane's weight bytes stay in flight while it computes
// (issuing a step's loads and then waiting for them leaves that lane's memory traffic idle during each
// decode; ncu showed the warps of the routed gate_up waiting on those loads for 56% of their cycles).
// Activations come from global memory (a few KB, L1-resident; the weights are loaded first-to-evict): with
// SHARED_X all rows multiply one activation row, decoded once per unit; otherwise row k has its own. The
// first steps' weight loads are issued before wait_for_inputs (dependent_launch.cuh): they are in flight
// while the previous kernel finishes; the activations are read after it. A lane without units may not wait
// here (unless after_wait is given), so the caller waits again before its stores.
#include <type_traits>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/q8_units.cuh"

namespace glmq::cuda {

constexpr int kQ8Threads = 128;

template <int LANES>
__device__ __forceinline__ float lanes_sum(float v) {
#pragma unroll
  for (int o = LANES / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Loads the weights of one step (units u0 + j·LANES, j < NB, of the R rows; none past end) into raw.
template <typename U, int LANES, int R, int NB>
__device__ __forceinline__ void q8_load_step(const typename U::Row (&row)[R], int u0, int end,
                                             typename U::Raw (&raw)[NB][R]) {
#pragma unroll
  for (int j = 0; j < NB; ++j) {
    const int u = u0 + j * LANES;
    if (u < end) {
#pragma unroll
      for (int k = 0; k < R; ++k) U::load(row[k], u, raw[j][k]);
    }
  }
}

// Decodes one step loaded by q8_load_step against the activations: acc[k] += row k · x over its units.
template <typename U, int LANES, int R, int NB, bool SHARED_X>
__device__ __forceinline__ void q8_dot_step(const typename U::Raw (&raw)[NB][R], const Q8Row (&x)[SHARED_X ? 1 : R],
                                            int u0, int end, const Q8Codebook& cb, float (&acc)[R]) {
#pragma unroll
  for (int j = 0; j < NB; ++j) {
    const int u = u0 + j * LANES;
    if (u < end) {
      if constexpr (SHARED_X) {
        Q8Block b;
        load_q8_block(x[0], u, b);
        Q8Prepared p;
        U::prep(b, p);
#pragma unroll
        for (int k = 0; k < R; ++k) acc[k] += U::dot(raw[j][k], p, cb);
      } else {
#pragma unroll
        for (int k = 0; k < R; ++k) {
          Q8Block b;
          load_q8_block(x[k], u, b);
          Q8Prepared p;
          U::prep(b, p);
          acc[k] += U::dot(raw[j][k], p, cb);
        }
      }
    }
  }
}

// Whether q8_rows_dot keeps two steps of KIND's units in registers: only for units of at most 24 bytes
// (affine 2/3/4, IQ2_S, IQ4_NL, Q4_0, Q5_x, ...). Two sets of the larger units (Q8_0, affine8, the K-quants)
// beside everything else spill at 4 rows per lane group; those load one step at a time.
template <int KIND>
constexpr bool q8_pipelined() {
  return sizeof(typename Q8Unit<KIND>::Raw) <= 24;
}

// Per-lane partial sums (acc[k] += …); the caller reduces over the group with lanes_sum.
// What runs right after the wait when the caller gives nothing (the activations are ready in memory).
struct NothingAfterWait {
  __device__ void operator()() const {}
};

// after_wait() runs in every thread of the block right after its wait, before any activation is read (a
// kernel that prepares its activations in shared memory from its predecessor's output does it there).
template <int KIND, int LANES, int R, int NB, bool SHARED_X, typename AfterWait = NothingAfterWait>
__device__ __forceinline__ void q8_rows_dot(const typename Q8Unit<KIND>::Row (&row)[R],
                                            const Q8Row (&x)[SHARED_X ? 1 : R], int begin, int end,
                                            const Q8Codebook& cb, float (&acc)[R], AfterWait after_wait = {}) {
  using U = Q8Unit<KIND>;
  constexpr int kStep = LANES * NB;
  int u0 = begin + static_cast<int>(threadIdx.x & (LANES - 1));
  if constexpr (q8_pipelined<KIND>()) {
    // Two register sets, used alternately (a copy between them would cost a move per word each step). Both
    // are filled before wait_for_inputs; afterwards each is refilled with the step after next as soon as it
    // has been decoded.
    typename U::Raw a[NB][R], b[NB][R];
    q8_load_step<U, LANES, R, NB>(row, u0, end, a);
    q8_load_step<U, LANES, R, NB>(row, u0 + kStep, end, b);
    wait_for_inputs();
    after_wait();
    while (u0 < end) {
      q8_dot_step<U, LANES, R, NB, SHARED_X>(a, x, u0, end, cb, acc);
      q8_load_step<U, LANES, R, NB>(row, u0 + 2 * kStep, end, a);
      u0 += kStep;
      if (u0 >= end) break;
      q8_dot_step<U, LANES, R, NB, SHARED_X>(b, x, u0, end, cb, acc);
      q8_load_step<U, LANES, R, NB>(row, u0 + 2 * kStep, end, b);
      u0 += kStep;
    }
  } else {
    typename U::Raw a[NB][R];
    if constexpr (std::is_same_v<AfterWait, NothingAfterWait>) {
      for (bool first = true; u0 < end; u0 += kStep, first = false) {
        q8_load_step<U, LANES, R, NB>(row, u0, end, a);
        if (first) wait_for_inputs();
        q8_dot_step<U, LANES, R, NB, SHARED_X>(a, x, u0, end, cb, acc);
      }
    } else {
      // Every thread reaches after_wait (it may synchronise the block), lanes without units too.
      q8_load_step<U, LANES, R, NB>(row, u0, end, a);
      wait_for_inputs();
      after_wait();
      while (u0 < end) {
        q8_dot_step<U, LANES, R, NB, SHARED_X>(a, x, u0, end, cb, acc);
        u0 += kStep;
        if (u0 < end) q8_load_step<U, LANES, R, NB>(row, u0, end, a);
      }
    }
  }
}

// Shared memory of the int8 kernels' codebook (IQ2_S / IQ2_XXS / IQ3_S grids), and its staging; IQ4_NL and
// IQ4_XS levels go to registers.
template <int KIND>
constexpr std::size_t q8_codebook_smem_bytes() {
  if constexpr (KIND == kind_of(WeightType::IQ2_S)) return 1024 * sizeof(std::uint32_t);
  if constexpr (KIND == kind_of(WeightType::IQ2_XXS)) return 256 * sizeof(std::uint64_t);
  if constexpr (KIND == kind_of(WeightType::IQ3_S)) return 512 * sizeof(std::uint32_t);
  return 0;
}
template <int KIND>
__device__ __forceinline__ Q8Codebook stage_q8_codebook(const DeviceWeight& w, void* smem) {
  Q8Codebook cb;
  cb.aux_f16 = w.aux_type == WeightType::F16;
  if constexpr (KIND == kind_of(WeightType::IQ2_S)) {
    cb.iq2s_levels = stage_words(static_cast<unsigned*>(smem), w.codebook + kIq2sLevelsOffset, 1024);
  } else if constexpr (KIND == kind_of(WeightType::IQ2_XXS)) {
    cb.grid = reinterpret_cast<const std::uint64_t*>(stage_words(static_cast<unsigned long long*>(smem), w.codebook, 256));
  } else if constexpr (KIND == kind_of(WeightType::IQ3_S)) {
    cb.grid4 = stage_words(static_cast<unsigned*>(smem), w.codebook, 512);
  } else if constexpr (KIND == kind_of(WeightType::IQ4_NL) || KIND == kind_of(WeightType::IQ4_XS)) {
#pragma unroll
    // Levels 8-15 plus one (each below 127: no carry between bytes), as iq4_levels_idot reads them.
    for (int i = 0; i < 4; ++i) cb.nl[i] = __ldg(reinterpret_cast<const std::uint32_t*>(w.codebook) + i) + (i >= 2 ? 0x01010101u : 0u);
  }
  return cb;
}

// Quantizes 32 floats held four per lane by 8 consecutive lanes (`mask`: those 8, or a superset) into an int8
// block: each lane writes its 4 codes at q (one word), and the block's first lane writes {d, Σx} at *ds. The
// one rounding of every int8 activation row (quantize_q8_kernel, and producers that quantize their output).
__device__ __forceinline__ void quantize_quad(float4 v, unsigned mask, std::int8_t* q, float2* ds) {
  float amax = fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));
  float sum = (v.x + v.y) + (v.z + v.w);
#pragma unroll
  for (int o = 4; o > 0; o >>= 1) {
    amax = fmaxf(amax, __shfl_xor_sync(mask, amax, o));
    sum += __shfl_xor_sync(mask, sum, o);
  }
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  char4 c;
  c.x = static_cast<signed char>(__float2int_rn(v.x * inv));
  c.y = static_cast<signed char>(__float2int_rn(v.y * inv));
  c.z = static_cast<signed char>(__float2int_rn(v.z * inv));
  c.w = static_cast<signed char>(__float2int_rn(v.w * inv));
  *reinterpret_cast<char4*>(q) = c;
  if ((threadIdx.x & 7) == 0) *ds = make_float2(amax / 127.0f, sum);
}

// Quantizes 32 floats held one per lane of a warp into an int8 block (lane i writes code i); lane 0
// writes the block's {d, Σx}. All 32 lanes must call it.
__device__ __forceinline__ void quantize_block_warp(float v, std::int8_t* q, float2* ds) {
  float amax = fabsf(v), sum = v;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    sum += __shfl_xor_sync(0xffffffffu, sum, o);
  }
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  q[threadIdx.x & 31] = static_cast<std::int8_t>(__float2int_rn(v * inv));
  if ((threadIdx.x & 31) == 0) *ds = make_float2(amax / 127.0f, sum);
}

}  // namespace glmq::cuda
