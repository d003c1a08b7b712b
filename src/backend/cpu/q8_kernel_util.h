#pragma once
// Shared pieces of the integer kernels (q8_kernels_*.cpp); included only where GLMQ_CPU_INT8_KERNELS is set.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "backend/cpu/q8_kernels.h"
#include "quant/ggml_iq_tables.h"

namespace glmq::cpu::q8 {

inline float f16(const std::uint8_t* p) {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }
inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

inline float hsum8(__m256 v) {
  const __m128 v4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 v2 = _mm_add_ps(v4, _mm_movehl_ps(v4, v4));
  return _mm_cvtss_f32(_mm_add_ss(v2, _mm_movehdup_ps(v2)));
}

// Which sub-block's scale each int16 lane of a maddubs result takes: `first` for the first `per` lanes, then
// first + step, … (an index vector for vpermw).
struct alignas(64) LanePattern {
  std::int16_t lane[32];
};
constexpr LanePattern lane_pattern(int per, int first, int step) {
  LanePattern p{};
  for (int i = 0; i < 32; ++i) p.lane[i] = static_cast<std::int16_t>(first + step * (i / per));
  return p;
}
inline __m512i load_pattern(const LanePattern& p) { return _mm512_load_si512(p.lane); }

// Sub-block scales for two vpdpbusd results at once. Each int32 lane of a vpdpbusd result sums 4 products of one
// sub-block; packed to int16 (every lane here is below 32768 in magnitude: 4·63·127 at most) the two results are
// scaled and summed by one vpdpwssd. Element e of the packed vector (128-bit lane L = e/8) comes from int32 lane
// 4L + e%4 of the first result (e%8 < 4) or of the second; sub(v, l) names the sub-block that lane l of result v
// covers, and the pattern gives each element's scale index (for vpermw).
template <class Sub>
constexpr LanePattern packed_pattern(Sub sub) {
  LanePattern p{};
  for (int e = 0; e < 32; ++e) p.lane[e] = static_cast<std::int16_t>(sub(e % 8 / 4, 4 * (e / 8) + e % 4));
  return p;
}

// Natural-order super-blocks as four 64-element chunks, whose vpdpbusd results are packed in pairs (0, 1) and (2, 3):
// the scale index of each packed element where scales are per 16 elements (Q2_K, Q3_K, Q6_K, IQ2_S: 4 int32 lanes
// of a chunk's result each) or per 32 (IQ3_S, IQ2_XXS: 8 lanes each).
inline constexpr LanePattern kSixteenPairs[2] = {packed_pattern([](int v, int l) { return 4 * v + l / 4; }),
                                                 packed_pattern([](int v, int l) { return 8 + 4 * v + l / 4; })};
inline constexpr LanePattern kThirtyTwoPairs[2] = {packed_pattern([](int v, int l) { return 2 * v + l / 8; }),
                                                   packed_pattern([](int v, int l) { return 4 + 2 * v + l / 8; })};

// acc + Σ (p0, p1 packed to int16) · scale16, pairwise into int32 lanes.
inline __m512i add_scaled(__m512i acc, __m512i p0, __m512i p1, __m512i scale16) {
  return _mm512_dpwssd_epi32(acc, _mm512_packs_epi32(p0, p1), scale16);
}

// The tokens a row kernel sees: NT consecutive rows of the rounded activations.
template <int NT>
struct Tokens {
  const std::int8_t* q[NT];
  const float* d[NT];
  const std::int16_t* sum16[NT];
  const std::int32_t* sum32[NT];
  const float* dsum32[NT];
  Tokens(const Q8Rows& a, std::int64_t t) {
    for (int i = 0; i < NT; ++i) {
      q[i] = a.row_q(t + i);
      d[i] = a.row_d(t + i);
      sum16[i] = a.row_sum16(t + i);
      sum32[i] = a.row_sum32(t + i);
      dsum32[i] = a.row_dsum32(t + i);
    }
  }
};

// Four consecutive 32-element blocks of Bytes bytes each (64 ≤ 4·Bytes ≤ 128) in two overlapping 64-byte loads, the
// second ending at the last block's end, so nothing past the four blocks is read. Fields are gathered out of them
// with one two-source permute (vpermt2b / vpermt2w) instead of one load and insert per block.
template <std::size_t Bytes>
struct FourBlockBytes {
  static_assert(4 * Bytes >= 64 && 4 * Bytes <= 128);
  static constexpr std::size_t kSecond = 4 * Bytes - 64;  // where the second load starts
  __m512i first, second;
  explicit FourBlockBytes(const std::uint8_t* b) : first(load512(b)), second(load512(b + kSecond)) {}
  // Permute index of the byte at offset o of the four blocks.
  static constexpr std::uint8_t byte_index(std::size_t o) {
    return static_cast<std::uint8_t>(o < 64 ? o : o - kSecond + 64);
  }
  // Permute index of the 16-bit word at (even) offset o.
  static constexpr std::int16_t word_index(std::size_t o) {
    return static_cast<std::int16_t>(o < 64 ? o / 2 : (o - kSecond) / 2 + 32);
  }
  __m512i bytes(__m512i index) const { return _mm512_permutex2var_epi8(first, index, second); }
  __m512i words(__m512i index) const { return _mm512_permutex2var_epi16(first, index, second); }
};

// A byte index vector for vpermb / vpermt2b (LanePattern is the word one).
struct alignas(64) ByteIndex {
  std::uint8_t at[64];
};
inline __m512i load_index(const ByteIndex& i) { return _mm512_load_si512(i.at); }

// Gathers the 16 code bytes at `offset` of each block into 128-bit lane k (block k).
template <std::size_t Bytes>
constexpr ByteIndex four_block_codes(std::size_t offset) {
  ByteIndex x{};
  for (std::size_t i = 0; i < 64; ++i) x.at[i] = FourBlockBytes<Bytes>::byte_index(Bytes * (i / 16) + offset + i % 16);
  return x;
}

// Gathers the 16-bit field at `offset` of block k into word k (k < 4).
template <std::size_t Bytes>
constexpr LanePattern four_block_halves(std::size_t offset) {
  LanePattern x{};
  for (std::size_t k = 0; k < 4; ++k) x.lane[k] = FourBlockBytes<Bytes>::word_index(Bytes * k + offset);
  return x;
}

// The fp16 fields gathered by a four_block_halves index, as floats in lanes 0..3.
inline __m128 four_f16(__m512i gathered) { return _mm_cvtph_ps(_mm512_castsi512_si128(gathered)); }

inline int hsum4(__m128i v) {
  return _mm_extract_epi32(v, 0) + _mm_extract_epi32(v, 1) + _mm_extract_epi32(v, 2) + _mm_extract_epi32(v, 3);
}

// Each float lane k (0..3) of a 128-bit vector spread over the four int32 lanes of 128-bit lane k (the lanes a
// vpdpbusd result gives block k in the NibbleGroups order).
inline __m512 per_block_lanes(__m128 v) {
  const __m512i spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(v));
}

// IQ4_NL's 16 levels shifted by +128 so they are unsigned (vpdpbusd multiplies unsigned by signed bytes), in every
// 128-bit lane for vpshufb; the shift adds 128·Σ qₓ per block, which the kernels subtract in int32.
inline __m512i shifted_iq4_levels() {
  alignas(16) std::uint8_t t[16];
  for (int i = 0; i < 16; ++i) t[i] = static_cast<std::uint8_t>(ggml::kValuesIq4nl[i] + 128);
  return _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
}

// 2^Shift·(Σ qₓ) of four 32-element blocks, in int32 lane 0 of each 128-bit lane (the block's lanes in the
// NibbleGroups order): the offset of codes stored as q + 2^Shift.
template <int Shift>
inline __m512i block_offsets(const std::int32_t* sum32) {
  const __m512i spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  return _mm512_slli_epi32(_mm512_maskz_permutexvar_epi32(0x1111, spread, _mm512_castsi128_si512(load128(sum32))), Shift);
}

// Software prefetch of the cache lines that start in [p + ahead, p + ahead + bytes): called with consecutive ranges,
// each line is requested once. A prefetch never faults, so the range may lie past the matrix (its last rows'
// look-ahead); it is computed on addresses, not pointers, for that reason.
inline void prefetch_lines(const std::uint8_t* p, std::ptrdiff_t ahead, std::size_t bytes) {
  const std::uintptr_t begin = reinterpret_cast<std::uintptr_t>(p) + static_cast<std::uintptr_t>(ahead), end = begin + bytes;
  for (std::uintptr_t line = (begin + 63) & ~std::uintptr_t{63}; line < end; line += 64)
    _mm_prefetch(reinterpret_cast<const char*>(line), _MM_HINT_T0);
}

// Runs the 32-element block types, whose activations have one scale per block: groups of four blocks (128
// elements, one activation vector pair) through Unit::Four, the blocks after the last whole group one at a time
// through Unit::One. Each unit decodes its blocks once and is then applied to every token:
//   Unit::kBytes                                  bytes per block
//   Unit::Four(block0)                            decode blocks 0..3 from the first one's address
//   four.accumulate(acc, q, sum32, dx) → acc      acc + Σ over the 4 blocks of w·x, 128 activations at q, their
//                                                 4 block sums at sum32 and 4 scales dx (lanes 0..3)
//   Unit::One(block), one.dot(q, sum32, dx)       Σ w·x over one block, activations in natural order
// sums() leaves each token's row sum as a vector acc[i] plus a scalar tail[i]; for_rows reduces them. With
// ahead ≠ 0 it also prefetches the bytes `ahead` past each group it reads (one-token products, kDecodeAhead).
template <class Unit>
struct Blocks32 {
  template <int NT>
  static void sums(const WeightMatrix& m, std::int64_t, const std::uint8_t* row, const Tokens<NT>& tk, __m512* acc,
                   float* tail, std::ptrdiff_t ahead = 0) {
    const std::int64_t blocks = m.cols / 32, full = blocks / 4 * 4;
    __m512 a[NT];  // local, so the sums stay in registers
    float t[NT];
    for (int i = 0; i < NT; ++i) {
      a[i] = _mm512_setzero_ps();
      t[i] = 0.0f;
    }
    for (std::int64_t g = 0; g < full; g += 4) {
      const std::uint8_t* at = row + static_cast<std::size_t>(g) * Unit::kBytes;
      if (ahead) prefetch_lines(at, ahead, 4 * Unit::kBytes);
      const typename Unit::Four w(at);
      for (int i = 0; i < NT; ++i) a[i] = w.accumulate(a[i], tk.q[i] + g * 32, tk.sum32[i] + g, _mm_loadu_ps(tk.d[i] + g));
    }
    for (std::int64_t g = full; g < blocks; ++g) {  // rows whose length is not a multiple of 128
      const typename Unit::One w(row + static_cast<std::size_t>(g) * Unit::kBytes);
      for (int i = 0; i < NT; ++i) t[i] += w.dot(tk.q[i] + g * 32, tk.sum32[i][g], tk.d[i][g]);
    }
    for (int i = 0; i < NT; ++i) {
      acc[i] = a[i];
      tail[i] = t[i];
    }
  }
};

// Runs the 256-element super-block types, whose activations have one scale per 256: each super-block is decoded
// once through Unit::Super and then applied to every token:
//   Unit::kBytes                                          bytes per super-block
//   Unit::Super(block)                                    decode one super-block
//   super.accumulate(acc, q, sum16, sum32, dx) → acc      acc + Σ w·x over its 256 elements: activations at q, their
//                                                         16- and 32-element sums at sum16 / sum32, their scale dx
// With ahead ≠ 0, sums() also prefetches the bytes `ahead` past each super-block it reads.
template <class Unit>
struct Blocks256 {
  template <int NT>
  static void sums(const WeightMatrix& m, std::int64_t, const std::uint8_t* row, const Tokens<NT>& tk, __m512* acc,
                   float* tail, std::ptrdiff_t ahead = 0) {
    __m512 a[NT];  // local, so the sums stay in registers
    for (int i = 0; i < NT; ++i) a[i] = _mm512_setzero_ps();
    for (std::int64_t sb = 0; sb < m.cols / 256; ++sb) {
      const std::uint8_t* at = row + static_cast<std::size_t>(sb) * Unit::kBytes;
      if (ahead) prefetch_lines(at, ahead, Unit::kBytes);
      const typename Unit::Super w(at);
      for (int i = 0; i < NT; ++i)
        a[i] = w.accumulate(a[i], tk.q[i] + sb * 256, tk.sum16[i] + sb * 16, tk.sum32[i] + sb * 8, tk.d[i][sb]);
    }
    for (int i = 0; i < NT; ++i) {
      acc[i] = a[i];
      tail[i] = 0.0f;
    }
  }
};

// The lane sums of four vectors, as lanes 0..3. Every vector is summed by the same tree wherever it sits (unused
// ones may be zero), so a product's result does not depend on which outputs shared its reduction.
inline __m128 reduce4(const __m512 v[4]) {
  const __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(v[0], v[1], 0x44), _mm512_shuffle_f32x4(v[0], v[1], 0xEE));
  const __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(v[2], v[3], 0x44), _mm512_shuffle_f32x4(v[2], v[3], 0xEE));
  __m512 s = _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, 0x88), _mm512_shuffle_f32x4(s01, s23, 0xDD));  // vector k: lane k
  s = _mm512_add_ps(s, _mm512_permute_ps(s, 0x4E));
  s = _mm512_add_ps(s, _mm512_permute_ps(s, 0xB1));
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), s));
}

// How far ahead of the block being read a one-token product prefetches its weights. Decoding streams each weight
// once from DRAM, and the hardware prefetchers alone kept too few lines in flight: the kernels ran at about half
// the read bandwidth. 8 KiB (~128 lines) covers DRAM latency on this loaded 2-core VM (2-8 KiB measured on a
// 300 MB Q4_K matrix: 1 KiB +10%, 4-8 KiB +40-60% GB/s at 1 thread), yet stays well inside L1 (48 KiB), so
// prefetched lines are not evicted before use. The rows of a chunk are contiguous, so the look-ahead runs into the
// chunk's next rows and past its end into the next chunk (the other thread's, or this thread's next one).
inline constexpr std::ptrdiff_t kDecodeAhead = 8192;

// Runs K::sums<NT>(w, r, row, tokens, acc[NT], tail[NT]) over rows [r0, r1) × tokens [t0, t1), where row = w.row(r);
// sums() is also given the matrix and row index because some types keep part of a row elsewhere (MLX affine scales
// and biases).
// One token (decoding): four rows at a time, whose sums are reduced together, prefetching kDecodeAhead bytes ahead.
// Several: tokens in groups of 4 so each weight block is decoded once per group; a row stays in L1 while its token
// groups sweep it.
template <class K>
void for_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
              float* y, std::int64_t y_stride) {
  const std::size_t row_bytes = w.row_bytes();
  auto row = [&](std::int64_t r) { return w.data + static_cast<std::size_t>(r) * row_bytes; };
  if (t1 - t0 == 1) {
    const Tokens<1> tk(a, t0);
    float* yt = y + t0 * y_stride;
    for (std::int64_t r = r0; r < r1; r += 4) {
      const std::int64_t nr = std::min<std::int64_t>(4, r1 - r);
      __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
      float tail[4] = {};
      if (nr == 4) {
        K::template sums<1>(w, r, row(r), tk, acc, tail, kDecodeAhead);
        K::template sums<1>(w, r + 1, row(r + 1), tk, acc + 1, tail + 1, kDecodeAhead);
        K::template sums<1>(w, r + 2, row(r + 2), tk, acc + 2, tail + 2, kDecodeAhead);
        K::template sums<1>(w, r + 3, row(r + 3), tk, acc + 3, tail + 3, kDecodeAhead);
        _mm_storeu_ps(yt + r, _mm_add_ps(reduce4(acc), _mm_loadu_ps(tail)));
      } else {
        for (std::int64_t k = 0; k < nr; ++k) K::template sums<1>(w, r + k, row(r + k), tk, acc + k, tail + k, kDecodeAhead);
        const __m128 out = _mm_add_ps(reduce4(acc), _mm_loadu_ps(tail));
        alignas(16) float o[4];
        _mm_store_ps(o, out);
        for (std::int64_t k = 0; k < nr; ++k) yt[r + k] = o[k];
      }
    }
    return;
  }
  for (std::int64_t r = r0; r < r1; ++r) {
    for (std::int64_t t = t0; t < t1; t += 4) {
      __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
      float tail[4] = {};
      switch (std::min<std::int64_t>(4, t1 - t)) {
        case 4: K::template sums<4>(w, r, row(r), Tokens<4>(a, t), acc, tail); break;
        case 3: K::template sums<3>(w, r, row(r), Tokens<3>(a, t), acc, tail); break;
        case 2: K::template sums<2>(w, r, row(r), Tokens<2>(a, t), acc, tail); break;
        default: K::template sums<1>(w, r, row(r), Tokens<1>(a, t), acc, tail); break;
      }
      alignas(16) float o[4];
      _mm_store_ps(o, _mm_add_ps(reduce4(acc), _mm_loadu_ps(tail)));
      for (std::int64_t i = 0; i < std::min<std::int64_t>(4, t1 - t); ++i) y[(t + i) * y_stride + r] = o[i];
    }
  }
}

}  // namespace glmq::cpu::q8
