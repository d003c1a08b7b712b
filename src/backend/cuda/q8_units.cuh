#pragma once
// Int8 row units: the decode-path dot products on quantized weights against activations quantized to int8.
//
// Activations (Q8 rows): per block of 32 values, 32 int8 codes q and a float2 {d, Σx}, x ≈ d·q; Σx is the
// exact float sum of the block (the affine bias and the K-quant minimum multiply it, so it is kept exact).
// A unit is 32 weights of one row against one such block: the weight codes are unpacked several at a time
// with masks and byte permutes into bytes, multiplied with __dp4a (four int8 products and an add per
// instruction) and scaled once per unit. That is about one integer instruction per weight; the float
// kernels (row_units.cuh) take ~9, which made them instruction-bound far below the memory bandwidth.
//
// Each unit type gives
//   Row / row()       what load() needs of one row (pointers), computed once per row,
//   Raw / load()      the unit's weight bytes of one row, loaded into registers (before any is decoded),
//   prep()            the activation block rearranged into the byte order that type's unpacking yields
//                     (done once per unit for all rows that share the activations),
//   dot()             Σ w·x over the unit as float.
#include <cuda_fp16.h>

#include <cstdint>

#include "backend/cuda/ggml_units.cuh"
#include "backend/cuda/weight_decode.cuh"

namespace glmq::cuda {

// A row of int8 activations: codes [cols] and one {d, Σx} per block of 32.
struct Q8Row {
  const std::int8_t* q = nullptr;
  const float2* ds = nullptr;
};

// One block of activations: the 32 codes as 8 words (natural order: word j holds codes 4j..4j+3).
struct Q8Block {
  int n[8];
  float d, sum;
};

// Prepared activations: 8 words in the byte order a unit type's unpacking needs, and the block's scale.
struct Q8Prepared {
  int v[8];
  float d, sum;
  int isum;  // Σ of the 8-bit codes (affine units only)
};

// What the i-quant units need besides their bytes: the IQ2_S level words, the IQ2_XXS grid or the IQ3_S grid
// (shared memory) and the IQ4_NL / IQ4_XS levels (four words of int8 values, in registers).
struct Q8Codebook {
  const std::uint64_t* grid = nullptr;          // IQ2_XXS
  const std::uint32_t* iq2s_levels = nullptr;   // IQ2_S: level words in shared memory (iq2s_codebook, weight_cache.h)
  const std::uint32_t* grid4 = nullptr;
  std::uint32_t nl[4] = {0, 0, 0, 0};  // IQ4_NL / IQ4_XS: levels 0-7, then levels 8-15 plus one (iq4_levels_idot)
  bool aux_f16 = false;  // affine scales and biases are float16 (else bf16): the same for every row of a matrix
};

// The integer cores below are host-callable too (plain C++ equivalents of the intrinsics), so their bit
// manipulation can be checked against a direct computation without a GPU.
#define GLMQ_HD __host__ __device__ __forceinline__
#ifdef __CUDA_ARCH__
#define GLMQ_UNROLL _Pragma("unroll")
#else
#define GLMQ_UNROLL
#endif

GLMQ_HD int dp4a_ss(int a, int b, int c) {
#ifdef __CUDA_ARCH__
  return __dp4a(a, b, c);
#else
  for (int i = 0; i < 4; ++i)
    c += static_cast<int>(static_cast<std::int8_t>(a >> (8 * i))) * static_cast<int>(static_cast<std::int8_t>(b >> (8 * i)));
  return c;
#endif
}
// Unsigned bytes of a times signed bytes of b (codes above 127, or masks that keep high bits).
GLMQ_HD int dp4a_us(std::uint32_t a, int b, int c) {
#ifdef __CUDA_ARCH__
  int d;
  asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
#else
  for (int i = 0; i < 4; ++i)
    c += static_cast<int>((a >> (8 * i)) & 0xFFu) * static_cast<int>(static_cast<std::int8_t>(b >> (8 * i)));
  return c;
#endif
}
// prmt with its selector as given (__byte_perm masks it with 0x7777 first, an instruction per call): output
// byte i is byte (nibble i & 7) of {a, b}, or where nibble i has bit 3 set, that byte's sign (0xFF or 0x00).
GLMQ_HD std::uint32_t byte_select(std::uint32_t a, std::uint32_t b, std::uint32_t sel) {
#ifdef __CUDA_ARCH__
  std::uint32_t d;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(sel));
  return d;
#else
  const std::uint64_t v = (static_cast<std::uint64_t>(b) << 32) | a;
  std::uint32_t d = 0;
  for (int i = 0; i < 4; ++i) {
    const unsigned nibble = (sel >> (4 * i)) & 0xFu;
    std::uint32_t byte = static_cast<std::uint32_t>(v >> (8 * (nibble & 7))) & 0xFFu;
    if (nibble & 8) byte = byte & 0x80u ? 0xFFu : 0u;
    d |= byte << (8 * i);
  }
  return d;
#endif
}
// Bytes of {b, a} (a = bytes 0-3) picked by the low 3 bits of each of sel's 4 low nibbles (__byte_perm).
GLMQ_HD std::uint32_t prmt(std::uint32_t a, std::uint32_t b, std::uint32_t sel) {
#ifdef __CUDA_ARCH__
  return __byte_perm(a, b, sel);
#else
  return byte_select(a, b, sel & 0x7777u);
#endif
}
// prmt in its sign mode: output byte i is 0xFF where byte i of a has its top bit set, else 0.
GLMQ_HD std::uint32_t byte_sign_mask(std::uint32_t a) {
#ifdef __CUDA_ARCH__
  std::uint32_t d;
  asm("prmt.b32 %0, %1, 0, 0xBA98;" : "=r"(d) : "r"(a));
  return d;
#else
  return byte_select(a, 0, 0xBA98u);
#endif
}

// Activations are written by the kernel before, which may still be running when this one starts
// (dependent_launch.cuh): plain (coherent) loads, never the read-only path (__ldg), whose contract — the data
// does not change while the kernel runs — that overlap breaks.
__device__ __forceinline__ void load_q8_block(const Q8Row& x, int u, Q8Block& b) {
  const int4* p = reinterpret_cast<const int4*>(x.q + 32 * u);
  const int4 lo = p[0], hi = p[1];
  b.n[0] = lo.x; b.n[1] = lo.y; b.n[2] = lo.z; b.n[3] = lo.w;
  b.n[4] = hi.x; b.n[5] = hi.y; b.n[6] = hi.z; b.n[7] = hi.w;
  const float2 ds = x.ds[u];
  b.d = ds.x;
  b.sum = ds.y;
}

// out[i] = byte k of a[i] for i < 4, as one word: [a0.bk, a1.bk, a2.bk, a3.bk] for all k at once (a 4×4
// byte transpose; out[k] collects byte k).
GLMQ_HD void transpose4(int a0, int a1, int a2, int a3, int (&out)[4]) {
  const std::uint32_t t0 = prmt(a0, a1, 0x5140), t1 = prmt(a2, a3, 0x5140);
  const std::uint32_t t2 = prmt(a0, a1, 0x7362), t3 = prmt(a2, a3, 0x7362);
  out[0] = static_cast<int>(prmt(t0, t1, 0x5410));
  out[1] = static_cast<int>(prmt(t0, t1, 0x7632));
  out[2] = static_cast<int>(prmt(t2, t3, 0x5410));
  out[3] = static_cast<int>(prmt(t2, t3, 0x7632));
}

GLMQ_HD void prep_natural(const Q8Block& b, Q8Prepared& p) {
GLMQ_UNROLL
  for (int j = 0; j < 8; ++j) p.v[j] = b.n[j];
  p.d = b.d;
  p.sum = b.sum;
  p.isum = 0;
}

// As prep_natural, with Σ of the 8-bit codes in isum (for units that centre their codes).
GLMQ_HD void prep_natural_isum(const Q8Block& b, Q8Prepared& p) {
  prep_natural(b, p);
  int isum = 0;
GLMQ_UNROLL
  for (int j = 0; j < 8; ++j) isum = dp4a_ss(b.n[j], 0x01010101, isum);
  p.isum = isum;
}

// The 4 bits of n (n < 16) spread to bit 0 of the 4 bytes of a word: the shifted copies n·2^(7i) do not
// overlap, and bit i of copy i lands on bit 8i.
GLMQ_HD std::uint32_t nibble_to_byte_bits(std::uint32_t n) { return (n * 0x00204081u) & 0x01010101u; }

// MLX affine B-bit (B = 2, 3, 4, 8) with 16-bit scales and biases: w = s·q + b per group. The codes are
// centred (q − c, c = 2^(B−1)) before the integer product, so the activations' rounding error is weighted
// by s·(q − c) — of the size of w — rather than by s·q, which the bias offsets and can be several times
// larger:  Σ w·x ≈ s·d·Σ (q − c)·xq + (b + s·c)·Σx.
template <int B>
struct AffineQ8 {
  static constexpr int kCentre = 1 << (B - 1);
  struct Row { const std::uint8_t* codes; const std::uint32_t* pairs; int group_shift; };
  // The group's scale (low half) and bias (high half) bits: one interleaved pair (device_weight.h).
  struct Raw { std::uint32_t w[B]; std::uint32_t pair; };
  __device__ static Row row(const DeviceWeight& w, std::int64_t r) {
    // Group sizes on this path are powers of two (fast_path_applies): a shift, not a division.
    return {w.data + r * w.row_bytes, reinterpret_cast<const std::uint32_t*>(w.scales + r * w.aux_row_bytes),
            __ffs(w.group_size) - 1};
  }
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.codes + u * 4 * B;
    if constexpr (B == 8) {
      const uint4 a = ld_stream16(p), c = ld_stream16(p + 16);
      r.w[0] = a.x; r.w[1] = a.y; r.w[2] = a.z; r.w[3] = a.w;
      r.w[4] = c.x; r.w[5] = c.y; r.w[6] = c.z; r.w[7] = c.w;
    } else if constexpr (B == 4) {
      const uint4 a = ld_stream16(p);
      r.w[0] = a.x; r.w[1] = a.y; r.w[2] = a.z; r.w[3] = a.w;
    } else if constexpr (B == 2) {
      const uint2 a = ld_stream8(p);
      r.w[0] = a.x; r.w[1] = a.y;
    } else {
      GLMQ_UNROLL
      for (int j = 0; j < B; ++j) r.w[j] = ld_stream4(p + 4 * j);
    }
    r.pair = ld_stream4(w.pairs + ((u << 5) >> w.group_shift));
  }
  GLMQ_HD static void prep(const Q8Block& b, Q8Prepared& p) {
    p.d = b.d;
    p.sum = b.sum;
    // Σ xq of the block (for the code centring), carried in the otherwise unused integer view of isum.
    int isum = 0;
    GLMQ_UNROLL
    for (int j = 0; j < 8; ++j) isum = dp4a_ss(b.n[j], 0x01010101, isum);
    p.isum = isum;
    if constexpr (B == 8) {
      GLMQ_UNROLL
      for (int j = 0; j < 8; ++j) p.v[j] = b.n[j];
    } else if constexpr (B == 4) {
      // Word j holds codes 8j..8j+7 as nibbles: its low nibbles are codes 8j, 8j+2, 8j+4, 8j+6 and its high
      // nibbles the odd ones, so the activations go even/odd: v[j] = x[8j + 0,2,4,6], v[4+j] = x[8j + 1,3,5,7].
      GLMQ_UNROLL
      for (int j = 0; j < 4; ++j) {
        p.v[j] = static_cast<int>(prmt(b.n[2 * j], b.n[2 * j + 1], 0x6420));
        p.v[4 + j] = static_cast<int>(prmt(b.n[2 * j], b.n[2 * j + 1], 0x7531));
      }
    } else if constexpr (B == 2) {
      // Word j holds codes 16j..16j+15; bits 2i of its bytes are codes 16j + 4k + i: v[4j + i] = x[16j + i + 4k], k < 4.
      int t[4];
      transpose4(b.n[0], b.n[1], b.n[2], b.n[3], t);
      p.v[0] = t[0]; p.v[1] = t[1]; p.v[2] = t[2]; p.v[3] = t[3];
      transpose4(b.n[4], b.n[5], b.n[6], b.n[7], t);
      p.v[4] = t[0]; p.v[5] = t[1]; p.v[6] = t[2]; p.v[7] = t[3];
    } else {
      // 3-bit: the 12 bytes are four 3-byte chunks of 8 codes; idot() gathers byte j of every chunk into one
      // word, so code i of the chunks pairs with v[i] = x[i, 8 + i, 16 + i, 24 + i].
      int t[4];
      transpose4(b.n[0], b.n[2], b.n[4], b.n[6], t);
      p.v[0] = t[0]; p.v[1] = t[1]; p.v[2] = t[2]; p.v[3] = t[3];
      transpose4(b.n[1], b.n[3], b.n[5], b.n[7], t);
      p.v[4] = t[0]; p.v[5] = t[1]; p.v[6] = t[2]; p.v[7] = t[3];
    }
  }
  // Σ (q − c)·xq over the unit (exact integer).
  GLMQ_HD static int idot(const Raw& r, const Q8Prepared& x) { return idot_raw(r, x) - kCentre * x.isum; }
  // Σ q·xq over the unit (exact integer).
  GLMQ_HD static int idot_raw(const Raw& r, const Q8Prepared& x) {
    if constexpr (B == 8) {
      int acc = 0;
GLMQ_UNROLL
      for (int j = 0; j < 8; ++j) acc = dp4a_us(r.w[j], x.v[j], acc);
      return acc;
    } else if constexpr (B == 4) {
      int lo = 0, hi = 0;
GLMQ_UNROLL
      for (int j = 0; j < 4; ++j) {
        lo = dp4a_ss(static_cast<int>(r.w[j] & 0x0F0F0F0Fu), x.v[j], lo);
        hi = dp4a_us(r.w[j] & 0xF0F0F0F0u, x.v[4 + j], hi);  // 16·code: a multiple of 16, shifted back exactly
      }
      return lo + (hi >> 4);
    } else if constexpr (B == 2) {
      int a0 = 0, a1 = 0, a2 = 0, a3 = 0;
GLMQ_UNROLL
      for (int j = 0; j < 2; ++j) {
        a0 = dp4a_ss(static_cast<int>(r.w[j] & 0x03030303u), x.v[4 * j], a0);
        a1 = dp4a_ss(static_cast<int>(r.w[j] & 0x0C0C0C0Cu), x.v[4 * j + 1], a1);
        a2 = dp4a_ss(static_cast<int>(r.w[j] & 0x30303030u), x.v[4 * j + 2], a2);
        a3 = dp4a_us(r.w[j] & 0xC0C0C0C0u, x.v[4 * j + 3], a3);
      }
      return a0 + (a1 >> 2) + (a2 >> 4) + (a3 >> 6);
    } else {
      // Stream bytes s0..s11 (code i at bit 3i); chunk k = s[3k..3k+2] holds codes 8k..8k+7.
      // A = [s0 s3 s6 s9], Bw = [s1 s4 s7 s10], C = [s2 s5 s8 s11]: byte k of each belongs to chunk k, so one
      // mask selects the same code of all four chunks. In a chunk's 24 bits: A = bits 0-7 (c0, c1, c2 low 2),
      // Bw = bits 8-15 (c2 top bit, c3, c4, c5 low bit), C = bits 16-23 (c5 top 2, c6, c7). Each masked
      // product is an exact multiple of its in-byte shift, so the shifts below are exact.
      const std::uint32_t w0 = r.w[0], w1 = r.w[1], w2 = r.w[2];
      const std::uint32_t A = prmt(prmt(w0, w1, 0x0630), w2, 0x5210);
      const std::uint32_t Bw = prmt(prmt(w0, w1, 0x0741), w2, 0x6210);
      const std::uint32_t C = prmt(prmt(w0, w1, 0x0052), w2, 0x7410);
      const int c0 = dp4a_ss(static_cast<int>(A & 0x07070707u), x.v[0], 0);
      const int c1 = dp4a_ss(static_cast<int>(A & 0x38383838u), x.v[1], 0);
      const int c2lo = dp4a_us(A & 0xC0C0C0C0u, x.v[2], 0);
      const int c2hi = dp4a_ss(static_cast<int>(Bw & 0x01010101u), x.v[2], 0);
      const int c3 = dp4a_ss(static_cast<int>(Bw & 0x0E0E0E0Eu), x.v[3], 0);
      const int c4 = dp4a_ss(static_cast<int>(Bw & 0x70707070u), x.v[4], 0);
      const int c5lo = dp4a_us(Bw & 0x80808080u, x.v[5], 0);
      const int c5hi = dp4a_ss(static_cast<int>(C & 0x03030303u), x.v[5], 0);
      const int c6 = dp4a_ss(static_cast<int>(C & 0x1C1C1C1Cu), x.v[6], 0);
      const int c7 = dp4a_us(C & 0xE0E0E0E0u, x.v[7], 0);
      return c0 + (c1 >> 3) + (c2lo >> 6) + c2hi * 4 + (c3 >> 1) + (c4 >> 4) + (c5lo >> 7) + c5hi * 2 + (c6 >> 2) +
             (c7 >> 5);
    }
  }
  __device__ static float dot(const Raw& r, const Q8Prepared& x, const Q8Codebook& cb) {
    float s, b;
    if (cb.aux_f16) {
      s = __half2float(__ushort_as_half(static_cast<unsigned short>(r.pair)));
      b = __half2float(__ushort_as_half(static_cast<unsigned short>(r.pair >> 16)));
    } else {
      s = __uint_as_float(r.pair << 16);
      b = __uint_as_float(r.pair & 0xFFFF0000u);
    }
    return fmaf(s, x.d * static_cast<float>(idot(r, x)), fmaf(s, static_cast<float>(kCentre), b) * x.sum);
  }
};

// Q8_0: 34-byte blocks (f16 d, 32 int8), 2-byte aligned.
struct Q8_0Q8 : Q8_0Blocks {
  GLMQ_HD static void prep(const Q8Block& b, Q8Prepared& p) { prep_natural(b, p); }
  GLMQ_HD static int idot(const Raw& r, const Q8Prepared& x) {
    int acc = 0;
GLMQ_UNROLL
    for (int j = 0; j < 8; ++j) acc = dp4a_ss(static_cast<int>(r.q[j]), x.v[j], acc);
    return acc;
  }
  __device__ static float dot(const Raw& r, const Q8Prepared& x, const Q8Codebook&) {
    return half_bits_to_float(r.d) * x.d * static_cast<float>(idot(r, x));
  }
};

// The activations in the order iq4_levels_idot looks up a word's levels: word 2w = codes [4w, 4w + 16, 4w + 1,
// 4w + 17], word 2w + 1 = [4w + 2, 4w + 18, 4w + 3, 4w + 19] (once per block for all rows of a step, instead of
// two byte permutes of the levels per word and row).
GLMQ_HD void prep_iq4_pairs(const Q8Block& b, Q8Prepared& p) {
GLMQ_UNROLL
  for (int w = 0; w < 4; ++w) {
    p.v[2 * w] = static_cast<int>(prmt(static_cast<std::uint32_t>(b.n[w]), static_cast<std::uint32_t>(b.n[4 + w]), 0x5140u));
    p.v[2 * w + 1] =
        static_cast<int>(prmt(static_cast<std::uint32_t>(b.n[w]), static_cast<std::uint32_t>(b.n[4 + w]), 0x7362u));
  }
  p.d = b.d;
  p.sum = b.sum;
  p.isum = 0;
}

// Σ level(q)·x over 32 elements whose IQ4 level indices are the nibbles of 16 bytes q (byte j: element j low,
// j + 16 high), as an exact integer; x prepared by prep_iq4_pairs; cb.nl as stage_q8_codebook holds it (levels
// 0-7, then levels 8-15 plus one).
// A byte permute of levels 0-7 selected by the nibbles gives an index's level where its top bit is clear and
// the sign of a level, −1 (every level 0-7 is negative), where it is set; one of levels 8-15 plus one (all
// positive) selected by the nibbles with their top bit flipped gives the level plus one where it was set and 0
// where it was clear. Their sum is the level: two permutes and two dp4a per 4 weights, no select between them.
GLMQ_HD int iq4_levels_idot(const std::uint32_t (&qw)[4], const Q8Prepared& x, const Q8Codebook& cb) {
  int acc = 0;
GLMQ_UNROLL
  for (int w = 0; w < 4; ++w) {
    // Nibbles of q in order: lo(b0) hi(b0) lo(b1) hi(b1) | lo(b2) hi(b2) lo(b3) hi(b3): the 4 weights of x's
    // word 2w are [e(4w), e(4w+16), e(4w+1), e(4w+17)], those of word 2w + 1 [e(4w+2), e(4w+18), e(4w+3), e(4w+19)].
    const std::uint32_t q = qw[w], flipped = q ^ 0x88888888u;
GLMQ_UNROLL
    for (int i = 0; i < 2; ++i) {
      const std::uint32_t low = byte_select(cb.nl[0], cb.nl[1], q >> (16 * i));
      const std::uint32_t high = byte_select(cb.nl[2], cb.nl[3], flipped >> (16 * i));
      acc = dp4a_ss(static_cast<int>(low), x.v[2 * w + i], acc);
      acc = dp4a_ss(static_cast<int>(high), x.v[2 * w + i], acc);
    }
  }
  return acc;
}

// IQ4_NL: 18-byte blocks (f16 d, 16 bytes: byte j = level index of element j (low nibble) and j + 16 (high)).
// The 16 int8 levels live in four registers; byte permutes look up four indices at a time.
struct Iq4NlQ8 : F16Nibble18Blocks {
  GLMQ_HD static void prep(const Q8Block& b, Q8Prepared& p) { prep_iq4_pairs(b, p); }
  GLMQ_HD static int idot(const Raw& r, const Q8Prepared& x, const Q8Codebook& cb) { return iq4_levels_idot(r.q, x, cb); }
  __device__ static float dot(const Raw& r, const Q8Prepared& x, const Q8Codebook& cb) {
    return half_bits_to_float(r.d) * x.d * static_cast<float>(idot(r, x, cb));
  }
};

// IQ4_XS: 32 elements per unit (sub-block ib of a 136-byte super-block): IQ4_NL's 16 bytes of level indices
// with the sub-block scale d·(ls − 32). Super-blocks are 8-byte aligned.
struct Iq4XsQ8 : PackedRows {
  struct Raw { std::uint32_t q[4]; std::uint32_t d; };  // d: f16 bits, ls in bits 16..21
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + (u / 8) * 136;
    const int ib = static_cast<int>(u & 7);
    const uint2 head = __ldg(reinterpret_cast<const uint2*>(p));  // d, scales_h | scales_l
    r.d = (head.x & 0xFFFFu) |
          (static_cast<std::uint32_t>(iq4xs_scale(ib, head.x >> 16, (head.y >> (8 * (ib / 2))) & 0xFFu)) << 16);
    const uint2 a = ld_stream8(p + 8 + 16 * ib), b = ld_stream8(p + 16 + 16 * ib);
    r.q[0] = a.x; r.q[1] = a.y; r.q[2] = b.x; r.q[3] = b.y;
  }
  GLMQ_HD static void prep(const Q8Block& b, Q8Prepared& p) { prep_iq4_pairs(b, p); }
  GLMQ_HD static int idot(const Raw& r, const Q8Prepared& x, const Q8Codebook& cb) { return iq4_levels_idot(r.q, x, cb); }
  __device__ static float dot(const Raw& r, const Q8Prepared& x, const Q8Codebook& cb) {
    const float dl = half_bits_to_float(r.d & 0xFFFFu) * static_cast<float>(static_cast<int>(r.d >> 16) - 32);
    return dl * x.d * static_cast<float>(idot(r, x, cb));
  }
};

// Σ ±g·xq over 4 elements: magnitude bytes g (each below 128), sign bits s (bit i negates element i), the 4
// activation codes x. Sign bit i → top bit of byte i (copies of s at shifts 7, 14, 21, 28 do not overlap),
// then 0xFF/0x00 per byte; g ^ 0xFF = −g − 1 as int8, so Σ ±g·x = Σ (g ^ m)·x − Σ m·x with m = −1 on the
// negative bytes.
GLMQ_HD int signed_grid_idot(std::uint32_t g, std::uint32_t s, int x) {
  const std::uint32_t m = byte_sign_mask(s * 0x10204080u);
  return dp4a_ss(static_cast<int>(g ^ m), x, 0) - dp4a_ss(static_cast<int>(m), x, 0);
}

// IQ2_S: 32 elements per unit (sub-block ib of an 82-byte super-block): four grid points of 8 magnitudes, 8
// sign bits each, a 4-bit scale per pair of grid points. A grid point is looked up as a level word (nibble k:
// which of the 3 magnitudes element k has; 4 bytes of shared memory, not the grid's 8); the signed int8 weights
// of 4 elements are one byte permute of the 3 magnitudes and their negations, selected by the 4 level nibbles
// with each element's sign as bit 2 (the device sign word has them a shift away: iq2s_sign_bit). ~3.5
// instructions per 4 weights; GGML's bytes took ~8 (sign nibble, multiply, permute, xor, two dp4a, subtract),
// and the routed IQ2_S experts were bound by the instructions they issue.
struct Iq2SQ8 : Iq2SBlocks {
  static constexpr std::uint32_t kMagnitudes = kIq2sMagnitudes[0] | (kIq2sMagnitudes[1] << 8) | (kIq2sMagnitudes[2] << 16);
  static constexpr std::uint32_t kNegated = (0x100u - kIq2sMagnitudes[0]) | ((0x100u - kIq2sMagnitudes[1]) << 8) |
                                            ((0x100u - kIq2sMagnitudes[2]) << 16);
  GLMQ_HD static void prep(const Q8Block& b, Q8Prepared& p) { prep_natural(b, p); }
  // Σ ±g·x over each pair of grid points (they share a scale). Grid point l's level word with its 8 signs on
  // bit 2 of each nibble is the selector of its first 4 weights, shifted by 16 that of the other 4.
  GLMQ_HD static void idot(const Raw& r, const Q8Prepared& x, const Q8Codebook& cb, int (&pair)[2]) {
    pair[0] = pair[1] = 0;
GLMQ_UNROLL
    for (int l = 0; l < 4; ++l) {
      const std::uint32_t levels = *reinterpret_cast<const std::uint32_t*>(
          reinterpret_cast<const unsigned char*>(cb.iq2s_levels) + iq2s_index_x4(r.index, r.hd, l));
      const std::uint32_t signs = (l >= 2 ? r.signs >> (l - 2) : r.signs << (2 - l)) & 0x44444444u;
      const std::uint32_t select = levels | signs;
      pair[l / 2] = dp4a_ss(static_cast<int>(byte_select(kMagnitudes, kNegated, select)), x.v[2 * l], pair[l / 2]);
      pair[l / 2] = dp4a_ss(static_cast<int>(byte_select(kMagnitudes, kNegated, select >> 16)), x.v[2 * l + 1], pair[l / 2]);
    }
  }
  __device__ static float dot(const Raw& r, const Q8Prepared& x, const Q8Codebook& cb) {
    int pair[2];
    idot(r, x, cb, pair);
    // d·(0.5 + scale)·0.25 = d·0.125·(2·scale + 1): the odd factors stay integers.
    const int odd0 = static_cast<int>(((r.hd >> 7) & 0x1Eu) | 1u), odd1 = static_cast<int>(((r.hd >> 11) & 0x1Eu) | 1u);
    return half_bits_to_float(r.hd >> 16) * 0.125f * x.d * static_cast<float>(pair[0] * odd0 + pair[1] * odd1);
  }
};

// Q4_0: 18-byte blocks (f16 d, 16 bytes: low nibbles are elements 0..15, high nibbles 16..31, in natural order
// within each word). Codes are q − 8: Σ w·x ≈ d·xd·(Σ q·xq − 8·Σ xq).
struct Q4_0Q8 : F16Nibble18Blocks {
  GLMQ_HD static void prep(const Q8Block& b, Q8Prepared& p) { prep_natural_isum(b, p); }
  GLMQ_HD static int idot(const Raw& r, const Q8Prepared& x) {
    int acc = 0;
GLMQ_UNROLL
    for (int j = 0; j < 4; ++j) {
      acc = dp4a_ss(static_cast<int>(r.q[j] & 0x0F0F0F0Fu), x.v[j], acc);
      acc = dp4a_ss(static_cast<int>((r.q[j] >> 4) & 0x0F0F0F0Fu), x.v[4 + j], acc);
    }
    return acc - 8 * x.isum;
  }
  __device__ static float dot(const Raw& r, const Q8Prepared& x, const Q8Codebook&) {
    return half_bits_to_float(r.d) * x.d * static_cast<float>(idot(r, x));
  }
};

// Q5_0 / Q5_1: Q4_0's nibbles plus a fifth bit per element (bit j of the block's u32 qh for element j). Q5_0
// codes are q − 16 (22-byte blocks, 2-byte aligned); Q5_1 weights are d·q + m (24-byte blocks), centred like
// the affine units: Σ w·x ≈ d·xd·Σ (q − 16)·xq + (m + 16·d)·Σx.
template <bool kMin>
struct Q5Q8 : PackedRows {
  static constexpr int kBytes = kMin ? 24 : 22, kQh = kMin ? 4 : 2;
  struct Raw { std::uint32_t q[4]; std::uint32_t qh, dm; };
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + u * kBytes;
    std::uint32_t words[5];
    load_words_unaligned<5>(p + kQh, words);
    r.qh = words[0];
GLMQ_UNROLL
    for (int i = 0; i < 4; ++i) r.q[i] = words[1 + i];
    r.dm = kMin ? __ldg(reinterpret_cast<const std::uint32_t*>(p)) : ldg_u16(p);
  }
  GLMQ_HD static void prep(const Q8Block& b, Q8Prepared& p) { prep_natural_isum(b, p); }
  // Σ (q − 16)·xq over the unit (exact integer).
  GLMQ_HD static int idot(const Raw& r, const Q8Prepared& x) {
    int acc = 0;
GLMQ_UNROLL
    for (int j = 0; j < 4; ++j) {
      const std::uint32_t h_lo = nibble_to_byte_bits((r.qh >> (4 * j)) & 0xFu) << 4;
      const std::uint32_t h_hi = nibble_to_byte_bits((r.qh >> (16 + 4 * j)) & 0xFu) << 4;
      acc = dp4a_ss(static_cast<int>((r.q[j] & 0x0F0F0F0Fu) | h_lo), x.v[j], acc);
      acc = dp4a_ss(static_cast<int>(((r.q[j] >> 4) & 0x0F0F0F0Fu) | h_hi), x.v[4 + j], acc);
    }
    return acc - 16 * x.isum;
  }
  __device__ static float dot(const Raw& r, const Q8Prepared& x, const Q8Codebook&) {
    const float d = half_bits_to_float(r.dm & 0xFFFFu);
    const float main = d * x.d * static_cast<float>(idot(r, x));
    if constexpr (kMin) return fmaf(fmaf(16.0f, d, half_bits_to_float(r.dm >> 16)), x.sum, main);
    return main;
  }
};
using Q5_0Q8 = Q5Q8<false>;
using Q5_1Q8 = Q5Q8<true>;

// Q4_K / Q5_K: 32 elements per unit (sub-block j of a 144- / 176-byte super-block, 16-byte aligned): the nibbles
// of pair j/2 (low for even j, high for odd) in natural order, for Q5_K the fifth bits as bit j of the 32 qh
// bytes; a 6-bit scale sc and min m. Centred by c = 8 (16): Σ w·x ≈ d·sc·xd·Σ (q − c)·xq + (c·d·sc − dmin·m)·Σx.
// The qh bytes and a pair's nibbles serve several units, so they are read through L1.
template <bool kFifth>
struct QKQ8 : PackedRows {
  static constexpr int kBytes = kFifth ? 176 : 144, kQs = kFifth ? 48 : 16, kCentre = kFifth ? 16 : 8;
  struct Raw { std::uint32_t q[8], h[kFifth ? 8 : 1]; std::uint32_t dm, scm; };  // scm: sc | m << 8 | j << 16
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + (u / 8) * kBytes;
    const int j = static_cast<int>(u & 7);
    const uint4 head = __ldg(reinterpret_cast<const uint4*>(p));  // d, dmin, 12 scale bytes
    const auto* qs = reinterpret_cast<const uint4*>(p + kQs + 32 * (j / 2));
    const uint4 a = __ldg(qs), b = __ldg(qs + 1);
    r.q[0] = a.x; r.q[1] = a.y; r.q[2] = a.z; r.q[3] = a.w;
    r.q[4] = b.x; r.q[5] = b.y; r.q[6] = b.z; r.q[7] = b.w;
    if constexpr (kFifth) {
      const auto* qh = reinterpret_cast<const uint4*>(p + 16);
      const uint4 h0 = __ldg(qh), h1 = __ldg(qh + 1);
      r.h[0] = h0.x; r.h[1] = h0.y; r.h[2] = h0.z; r.h[3] = h0.w;
      r.h[4] = h1.x; r.h[5] = h1.y; r.h[6] = h1.z; r.h[7] = h1.w;
    }
    r.dm = head.x;
    const std::uint32_t s[3] = {head.y, head.z, head.w};
    int sc, m;
    q4k_scale_min(j, s, sc, m);
    r.scm = static_cast<std::uint32_t>(sc) | (static_cast<std::uint32_t>(m) << 8) | (static_cast<std::uint32_t>(j) << 16);
  }
  GLMQ_HD static void prep(const Q8Block& b, Q8Prepared& p) { prep_natural_isum(b, p); }
  // Σ (q − c)·xq over the unit (exact integer).
  GLMQ_HD static int idot(const Raw& r, const Q8Prepared& x) {
    const int j = static_cast<int>(r.scm >> 16), nib = 4 * (j & 1);
    int acc = 0;
GLMQ_UNROLL
    for (int k = 0; k < 8; ++k) {
      std::uint32_t code = (r.q[k] >> nib) & 0x0F0F0F0Fu;
      if constexpr (kFifth) code |= ((r.h[k] >> j) & 0x01010101u) << 4;
      acc = dp4a_ss(static_cast<int>(code), x.v[k], acc);
    }
    return acc - kCentre * x.isum;
  }
  __device__ static float dot(const Raw& r, const Q8Prepared& x, const Q8Codebook&) {
    const float d = half_bits_to_float(r.dm & 0xFFFFu), dmin = half_bits_to_float(r.dm >> 16);
    const float dsc = d * static_cast<float>(r.scm & 0xFFu);
    const float offset = fmaf(static_cast<float>(kCentre), dsc, -dmin * static_cast<float>((r.scm >> 8) & 0xFFu));
    return fmaf(dsc * x.d, static_cast<float>(idot(r, x)), offset * x.sum);
  }
};
using Q4KQ8 = QKQ8<false>;
using Q5KQ8 = QKQ8<true>;

// Q6_K: 32 elements per unit, elements 128·h + 32·t + l (unit 4h + t) of a 210-byte super-block (2-byte
// aligned): low 4 bits in nibble t/2 of ql[64h + 32·(t & 1) + l], high 2 bits at bit 2t of qh[32h + l], signed
// 8-bit scales per 16 (sc[8h + 2t], sc[8h + 2t + 1]). The codes q − 32 ∈ [−32, 31] are formed as signed bytes,
// so no sum is needed: Σ w·x ≈ d·xd·Σ_half sc·Σ (q − 32)·xq.
struct Q6KQ8 : PackedRows {
  struct Raw { std::uint32_t q[8], h[8]; std::uint32_t d, sc; };  // d: f16 bits | t << 16; sc: the two scale bytes
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + (u / 8) * 210;
    const int h = static_cast<int>((u >> 2) & 1), t = static_cast<int>(u & 3);
    load_words_unaligned<8>(p + 64 * h + 32 * (t & 1), r.q);
    load_words_unaligned<8>(p + 128 + 32 * h, r.h);
    r.sc = ldg_u16(p + 192 + 8 * h + 2 * t);
    r.d = ldg_u16(p + 208) | (static_cast<std::uint32_t>(t) << 16);
  }
  GLMQ_HD static void prep(const Q8Block& b, Q8Prepared& p) { prep_natural(b, p); }
  // Σ (q − 32)·xq over each half (16 elements, one scale each).
  GLMQ_HD static void idot(const Raw& r, const Q8Prepared& x, int (&half)[2]) {
    const int t = static_cast<int>(r.d >> 16), nib = 4 * (t >> 1), shift = 2 * t;
    half[0] = half[1] = 0;
GLMQ_UNROLL
    for (int k = 0; k < 8; ++k) {
      const std::uint32_t low = ((r.q[k] >> nib) & 0x0F0F0F0Fu) | ((r.h[k] >> shift) & 0x01010101u) << 4;
      // q − 32 as a signed byte: the low 5 bits, and 0xE0 or'ed in where bit 5 of q is clear.
      const std::uint32_t neg = (((r.h[k] >> (shift + 1)) & 0x01010101u) ^ 0x01010101u) * 0xE0u;
      half[k / 4] = dp4a_ss(static_cast<int>(low | neg), x.v[k], half[k / 4]);
    }
  }
  __device__ static float dot(const Raw& r, const Q8Prepared& x, const Q8Codebook&) {
    int half[2];
    idot(r, x, half);
    const int sc0 = static_cast<std::int8_t>(r.sc & 0xFFu), sc1 = static_cast<std::int8_t>(r.sc >> 8);
    return half_bits_to_float(r.d & 0xFFFFu) * x.d * static_cast<float>(sc0 * half[0] + sc1 * half[1]);
  }
};

// Q3_K: 32 elements per unit, elements 128·c + 32·s + l (sub = 4c + s) of a 110-byte super-block (2-byte
// aligned): bits 2s..2s+1 of qs[32c + l], a third bit in hmask[l] bit sub (clear: subtract 4), two sub-blocks
// of 16 with 6-bit scales sc − 32. The codes q − 4 ∈ [−4, 3] are formed as signed bytes, so no sum is needed:
// Σ w·x ≈ d·xd·Σ_half (sc − 32)·Σ (q − 4)·xq.
struct Q3KQ8 : PackedRows {
  struct Raw { std::uint32_t q[8], h[8]; std::uint32_t d, sc; };  // d: f16 bits | sub << 16; sc: two scales
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + (u / 8) * 110;
    const int sub = static_cast<int>(u & 7);
    load_words_unaligned<8>(p + 32 + 32 * (sub / 4), r.q);
    load_words_unaligned<8>(p, r.h);
    std::uint32_t s[3];
    load_words_unaligned<3>(p + 96, s);
    r.sc = static_cast<std::uint32_t>(q3k_scale(2 * sub, s)) | (static_cast<std::uint32_t>(q3k_scale(2 * sub + 1, s)) << 16);
    r.d = ldg_u16(p + 108) | (static_cast<std::uint32_t>(sub) << 16);
  }
  GLMQ_HD static void prep(const Q8Block& b, Q8Prepared& p) { prep_natural(b, p); }
  // Σ (q − 4)·xq over each half (16 elements, one scale each).
  GLMQ_HD static void idot(const Raw& r, const Q8Prepared& x, int (&half)[2]) {
    const int sub = static_cast<int>(r.d >> 16), shift = 2 * (sub & 3);
    half[0] = half[1] = 0;
GLMQ_UNROLL
    for (int k = 0; k < 8; ++k) {
      const std::uint32_t low = (r.q[k] >> shift) & 0x03030303u;
      // Bytes whose high bit is clear get 0xFC (−4) or'ed in: low − 4 as a signed byte.
      const std::uint32_t neg = (((r.h[k] >> sub) & 0x01010101u) ^ 0x01010101u) * 0xFCu;
      half[k / 4] = dp4a_ss(static_cast<int>(low | neg), x.v[k], half[k / 4]);
    }
  }
  __device__ static float dot(const Raw& r, const Q8Prepared& x, const Q8Codebook&) {
    int half[2];
    idot(r, x, half);
    const int sc0 = static_cast<int>(r.sc & 0xFFFFu) - 32, sc1 = static_cast<int>(r.sc >> 16) - 32;
    return half_bits_to_float(r.d & 0xFFFFu) * x.d * static_cast<float>(sc0 * half[0] + sc1 * half[1]);
  }
};

// IQ2_XXS: 32 elements per unit (sub-block ib of a 66-byte super-block): two words, four 8-bit indices of grid
// points of 8 magnitudes (shared-memory grid), then four 7-bit sign indices (the parity bit completes them) and
// a 4-bit scale d·(0.5 + ls)·0.25.
struct Iq2XxsQ8 : Iq2XxsBlocks {
  GLMQ_HD static void prep(const Q8Block& b, Q8Prepared& p) { prep_natural(b, p); }
  GLMQ_HD static int idot(const Raw& r, const Q8Prepared& x, const Q8Codebook& cb) {
    int acc = 0;
GLMQ_UNROLL
    for (int l = 0; l < 4; ++l) {
      const std::uint64_t g = cb.grid[(r.a[0] >> (8 * l)) & 0xFFu];
      const std::uint32_t s = iq2xxs_signs((r.a[1] >> (7 * l)) & 127u);
      acc += signed_grid_idot(static_cast<std::uint32_t>(g), s & 0xFu, x.v[2 * l]) +
             signed_grid_idot(static_cast<std::uint32_t>(g >> 32), s >> 4, x.v[2 * l + 1]);
    }
    return acc;
  }
  __device__ static float dot(const Raw& r, const Q8Prepared& x, const Q8Codebook& cb) {
    const float db = half_bits_to_float(r.d) * (0.5f + static_cast<float>(r.a[1] >> 28)) * 0.25f;
    return db * x.d * static_cast<float>(idot(r, x, cb));
  }
};

// IQ3_S: 32 elements per unit (sub-block ib of a 110-byte super-block, 2-byte aligned): eight 9-bit indices of
// grid points of 4 magnitudes (shared-memory grid), a sign bit per element, a 4-bit scale d·(1 + 2s).
struct Iq3SQ8 : Iq3SBlocks {
  GLMQ_HD static void prep(const Q8Block& b, Q8Prepared& p) { prep_natural(b, p); }
  GLMQ_HD static int idot(const Raw& r, const Q8Prepared& x, const Q8Codebook& cb) {
    int acc = 0;
GLMQ_UNROLL
    for (int k = 0; k < 8; ++k) {
      const std::uint32_t idx = ((r.qs[k / 4] >> (8 * (k & 3))) & 0xFFu) | (((r.d >> (16 + k)) & 1u) << 8);
      acc += signed_grid_idot(cb.grid4[idx], (r.signs[0] >> (4 * k)) & 0xFu, x.v[k]);
    }
    return acc;
  }
  __device__ static float dot(const Raw& r, const Q8Prepared& x, const Q8Codebook& cb) {
    const float db = half_bits_to_float(r.d & 0xFFFFu) * static_cast<float>(1 + 2 * static_cast<int>(r.d >> 24));
    return db * x.d * static_cast<float>(idot(r, x, cb));
  }
};

// Which weight kinds have an int8 unit (others take the float kernels).
__host__ __device__ constexpr bool has_q8_unit(int kind) {
  switch (kind) {
    case kind_of(WeightType::Affine2):
    case kind_of(WeightType::Affine3):
    case kind_of(WeightType::Affine4):
    case kind_of(WeightType::Affine8):
    case kind_of(WeightType::Q8_0):
    case kind_of(WeightType::Q4_0):
    case kind_of(WeightType::Q5_0):
    case kind_of(WeightType::Q5_1):
    case kind_of(WeightType::Q3_K):
    case kind_of(WeightType::Q4_K):
    case kind_of(WeightType::Q5_K):
    case kind_of(WeightType::Q6_K):
    case kind_of(WeightType::IQ4_NL):
    case kind_of(WeightType::IQ4_XS):
    case kind_of(WeightType::IQ2_XXS):
    case kind_of(WeightType::IQ2_S):
    case kind_of(WeightType::IQ3_S): return true;
    default: return false;
  }
}

template <int KIND> struct Q8UnitOf;
template <> struct Q8UnitOf<kind_of(WeightType::Affine2)> { using type = AffineQ8<2>; };
template <> struct Q8UnitOf<kind_of(WeightType::Affine3)> { using type = AffineQ8<3>; };
template <> struct Q8UnitOf<kind_of(WeightType::Affine4)> { using type = AffineQ8<4>; };
template <> struct Q8UnitOf<kind_of(WeightType::Affine8)> { using type = AffineQ8<8>; };
template <> struct Q8UnitOf<kind_of(WeightType::Q8_0)> { using type = Q8_0Q8; };
template <> struct Q8UnitOf<kind_of(WeightType::Q4_0)> { using type = Q4_0Q8; };
template <> struct Q8UnitOf<kind_of(WeightType::Q5_0)> { using type = Q5_0Q8; };
template <> struct Q8UnitOf<kind_of(WeightType::Q5_1)> { using type = Q5_1Q8; };
template <> struct Q8UnitOf<kind_of(WeightType::Q3_K)> { using type = Q3KQ8; };
template <> struct Q8UnitOf<kind_of(WeightType::Q4_K)> { using type = Q4KQ8; };
template <> struct Q8UnitOf<kind_of(WeightType::Q5_K)> { using type = Q5KQ8; };
template <> struct Q8UnitOf<kind_of(WeightType::Q6_K)> { using type = Q6KQ8; };
template <> struct Q8UnitOf<kind_of(WeightType::IQ4_NL)> { using type = Iq4NlQ8; };
template <> struct Q8UnitOf<kind_of(WeightType::IQ4_XS)> { using type = Iq4XsQ8; };
template <> struct Q8UnitOf<kind_of(WeightType::IQ2_XXS)> { using type = Iq2XxsQ8; };
template <> struct Q8UnitOf<kind_of(WeightType::IQ2_S)> { using type = Iq2SQ8; };
template <> struct Q8UnitOf<kind_of(WeightType::IQ3_S)> { using type = Iq3SQ8; };
template <int KIND>
using Q8Unit = typename Q8UnitOf<KIND>::type;

// Calls f(std::integral_constant<int, KIND>) for w's int8 unit. Only for weights with q8_applies(w).
template <typename F>
void dispatch_q8_kind(const DeviceWeight& w, F&& f) {
  switch (w.type) {
    case WeightType::Affine2: return f(std::integral_constant<int, kind_of(WeightType::Affine2)>{});
    case WeightType::Affine3: return f(std::integral_constant<int, kind_of(WeightType::Affine3)>{});
    case WeightType::Affine4: return f(std::integral_constant<int, kind_of(WeightType::Affine4)>{});
    case WeightType::Affine8: return f(std::integral_constant<int, kind_of(WeightType::Affine8)>{});
    case WeightType::Q8_0: return f(std::integral_constant<int, kind_of(WeightType::Q8_0)>{});
    case WeightType::Q4_0: return f(std::integral_constant<int, kind_of(WeightType::Q4_0)>{});
    case WeightType::Q5_0: return f(std::integral_constant<int, kind_of(WeightType::Q5_0)>{});
    case WeightType::Q5_1: return f(std::integral_constant<int, kind_of(WeightType::Q5_1)>{});
    case WeightType::Q3_K: return f(std::integral_constant<int, kind_of(WeightType::Q3_K)>{});
    case WeightType::Q4_K: return f(std::integral_constant<int, kind_of(WeightType::Q4_K)>{});
    case WeightType::Q5_K: return f(std::integral_constant<int, kind_of(WeightType::Q5_K)>{});
    case WeightType::Q6_K: return f(std::integral_constant<int, kind_of(WeightType::Q6_K)>{});
    case WeightType::IQ4_NL: return f(std::integral_constant<int, kind_of(WeightType::IQ4_NL)>{});
    case WeightType::IQ4_XS: return f(std::integral_constant<int, kind_of(WeightType::IQ4_XS)>{});
    case WeightType::IQ2_XXS: return f(std::integral_constant<int, kind_of(WeightType::IQ2_XXS)>{});
    case WeightType::IQ2_S: return f(std::integral_constant<int, kind_of(WeightType::IQ2_S)>{});
    case WeightType::IQ3_S: return f(std::integral_constant<int, kind_of(WeightType::IQ3_S)>{});
    default: break;
  }
  fail(ErrorKind::DType, std::string("no int8 kernel for weight type ") + std::string(weight_type_name(w.type)));
}

}  // namespace glmq::cuda

#undef GLMQ_HD
#undef GLMQ_UNROLL
