#pragma once
// Decoding one GGML block into float32, per type, from the documented layouts (shared/docs/quant_gguf.md §4.3).
// Inline so the reference dequantizer and the fused CPU dot kernels share one definition. Every product is
// evaluated in the order ggml and gguf-py use ((d·scale)·q − dmin·m, …), and the translation units that need
// bit-exact results compile with -ffp-contract=off so no multiply-add is fused.
#include <cstdint>
#include <cstring>

#include "core/float_convert.h"
#include "quant/ggml_iq_tables.h"

namespace glmq::ggml {

inline constexpr int kQK = 256;  // elements of a K-quant / 256-element i-quant super-block

inline float read_f16(const std::uint8_t* p) {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block's 12 packed bytes.
inline void scale_min_k4(int j, const std::uint8_t* q, int& sc, int& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Q8_0: d f16 @0, qs int8[32] @2.
inline void decode_q8_0(const std::uint8_t* b, float* y) {
  const float d = read_f16(b);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<std::int8_t>(b[2 + j])) * d;
}

// Q4_0: d f16 @0, qs u8[16] @2; low nibbles are elements 0..15, high nibbles 16..31.
inline void decode_q4_0(const std::uint8_t* b, float* y) {
  const float d = read_f16(b);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>((b[2 + j] & 0xF) - 8);
    y[j + 16] = d * static_cast<float>((b[2 + j] >> 4) - 8);
  }
}

// The 32 five-bit codes of a Q5_0/Q5_1 block: 16 bytes `qs` of low nibbles (elements 0..15 low, 16..31 high) and the
// fifth bits as one little-endian u32 `qh`, bit j for element j.
inline void five_bit_codes(const std::uint8_t* qh_bytes, const std::uint8_t* qs, int* q) {
  std::uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < 16; ++j) {
    q[j] = (qs[j] & 0xF) | static_cast<int>(((qh >> j) & 1u) << 4);
    q[j + 16] = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
  }
}

// Q5_0: d f16 @0, qh u32 @2, qs u8[16] @6; y = (q − 16)·d.
inline void decode_q5_0(const std::uint8_t* b, float* y) {
  const float d = read_f16(b);
  int q[32];
  five_bit_codes(b + 2, b + 6, q);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(q[j] - 16) * d;
}

// Q5_1: d f16 @0, m f16 @2, qh u32 @4, qs u8[16] @8; y = q·d + m.
inline void decode_q5_1(const std::uint8_t* b, float* y) {
  const float d = read_f16(b), m = read_f16(b + 2);
  int q[32];
  five_bit_codes(b + 4, b + 8, q);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(q[j]) * d + m;
}

// Q2_K: scales u8[16] @0 (low nibble scale, high nibble min), qs u8[64] @16, d f16 @80, dmin f16 @82.
// Element 128·c + 32·s + l is bits 2s..2s+1 of qs[32c + l]; sub-block of 16 = element / 16.
inline void decode_q2_k(const std::uint8_t* b, float* y) {
  const float d = read_f16(b + 80), dmin = read_f16(b + 82);
  for (int e = 0; e < kQK; ++e) {
    const int c = e / 128, s = (e / 32) % 4, l = e % 32;
    const std::uint8_t sc = b[e / 16];
    const float dl = d * static_cast<float>(sc & 0xF), ml = dmin * static_cast<float>(sc >> 4);
    y[e] = dl * static_cast<float>((b[16 + 32 * c + l] >> (2 * s)) & 3) - ml;
  }
}

// Q3_K: hmask u8[32] @0, qs u8[64] @32, scales u8[12] @96 (16 × 6-bit, offset 32), d f16 @108.
// Low 2 bits as Q2_K; element 32·j + l subtracts 4 when bit j of hmask[l] is clear.
inline void decode_q3_k(const std::uint8_t* b, float* y) {
  const float d = read_f16(b + 108);
  const std::uint8_t* sc = b + 96;
  float dl[16];
  for (int i = 0; i < 16; ++i) {
    const int lo = (i < 8 ? sc[i] : sc[i - 8] >> 4) & 0xF;
    const int hi = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
    dl[i] = d * static_cast<float>((lo | (hi << 4)) - 32);
  }
  for (int e = 0; e < kQK; ++e) {
    const int c = e / 128, s = (e / 32) % 4, l = e % 32;
    const int low = (b[32 + 32 * c + l] >> (2 * s)) & 3;
    const int high = (b[l] >> (e / 32)) & 1;
    y[e] = dl[e / 16] * static_cast<float>(low - (high ? 0 : 4));
  }
}

// Q4_K: d f16 @0, dmin f16 @2, scales u8[12] @4, qs u8[128] @16. Pair p of sub-blocks shares qs[32p..32p+31]:
// low nibbles are sub-block 2p, high nibbles 2p+1.
inline void decode_q4_k(const std::uint8_t* b, float* y) {
  const float d = read_f16(b), dmin = read_f16(b + 2);
  const std::uint8_t* q = b + 16;
  for (int p = 0; p < 4; ++p) {
    int sc, m;
    scale_min_k4(2 * p, b + 4, sc, m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    scale_min_k4(2 * p + 1, b + 4, sc, m);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) {
      y[64 * p + l] = d1 * static_cast<float>(q[32 * p + l] & 0xF) - m1;
      y[64 * p + 32 + l] = d2 * static_cast<float>(q[32 * p + l] >> 4) - m2;
    }
  }
}

// Q5_K: as Q4_K with qh u8[32] @16 and qs @48; the 5th bit of sub-block j's element l is bit j of qh[l].
inline void decode_q5_k(const std::uint8_t* b, float* y) {
  const float d = read_f16(b), dmin = read_f16(b + 2);
  const std::uint8_t* qh = b + 16;
  const std::uint8_t* q = b + 48;
  for (int p = 0; p < 4; ++p) {
    int sc, m;
    scale_min_k4(2 * p, b + 4, sc, m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    scale_min_k4(2 * p + 1, b + 4, sc, m);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) {
      const int lo = (q[32 * p + l] & 0xF) | (((qh[l] >> (2 * p)) & 1) << 4);
      const int hi = (q[32 * p + l] >> 4) | (((qh[l] >> (2 * p + 1)) & 1) << 4);
      y[64 * p + l] = d1 * static_cast<float>(lo) - m1;
      y[64 * p + 32 + l] = d2 * static_cast<float>(hi) - m2;
    }
  }
}

// Q6_K: ql u8[128] @0, qh u8[64] @128, scales int8[16] @192, d f16 @208; two halves of 128 elements.
inline void decode_q6_k(const std::uint8_t* b, float* y) {
  const float d = read_f16(b + 208);
  for (int h = 0; h < 2; ++h) {
    const std::uint8_t* ql = b + 64 * h;
    const std::uint8_t* qh = b + 128 + 32 * h;
    const auto* sc = reinterpret_cast<const std::int8_t*>(b + 192 + 8 * h);
    float* out = y + 128 * h;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      out[l] = (d * static_cast<float>(sc[is])) * static_cast<float>(q1);
      out[l + 32] = (d * static_cast<float>(sc[is + 2])) * static_cast<float>(q2);
      out[l + 64] = (d * static_cast<float>(sc[is + 4])) * static_cast<float>(q3);
      out[l + 96] = (d * static_cast<float>(sc[is + 6])) * static_cast<float>(q4);
    }
  }
}

// 16 bytes of IQ4 nibbles with scale dl → 32 values (low nibbles first).
inline void decode_iq4_nibbles(const std::uint8_t* q, float dl, float* y) {
  for (int j = 0; j < 16; ++j) {
    y[j] = dl * static_cast<float>(kValuesIq4nl[q[j] & 0xF]);
    y[j + 16] = dl * static_cast<float>(kValuesIq4nl[q[j] >> 4]);
  }
}

// IQ4_NL: d f16 @0, qs u8[16] @2.
inline void decode_iq4_nl(const std::uint8_t* b, float* y) { decode_iq4_nibbles(b + 2, read_f16(b), y); }

// IQ4_XS: d f16 @0, scales_h u16 @2, scales_l u8[4] @4, qs u8[128] @8; 6-bit sub-block scales offset by 32.
inline void decode_iq4_xs(const std::uint8_t* b, float* y) {
  const float d = read_f16(b);
  const unsigned scales_h = static_cast<unsigned>(b[2]) | (static_cast<unsigned>(b[3]) << 8);
  for (int ib = 0; ib < 8; ++ib) {
    const int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((scales_h >> (2 * ib)) & 3) << 4);
    decode_iq4_nibbles(b + 8 + 16 * ib, d * static_cast<float>(ls - 32), y + 32 * ib);
  }
}

inline float grid_value(std::uint64_t entry, int j) { return static_cast<float>((entry >> (8 * j)) & 0xFF); }

// IQ2_XXS: d f16 @0, then per 32 elements two u32: a0 = four grid indices, a1 = four 7-bit sign indices + 4-bit scale.
inline void decode_iq2_xxs(const std::uint8_t* b, float* y) {
  const float d = read_f16(b);
  for (int ib = 0; ib < 8; ++ib) {
    std::uint32_t a0, a1;
    std::memcpy(&a0, b + 2 + 8 * ib, 4);
    std::memcpy(&a1, b + 6 + 8 * ib, 4);
    const float db = d * (0.5f + static_cast<float>(a1 >> 28)) * 0.25f;
    for (int l = 0; l < 4; ++l) {
      const std::uint64_t g = kIq2xxsGrid[(a0 >> (8 * l)) & 0xFF];
      const std::uint8_t signs = kSignsIq2[(a1 >> (7 * l)) & 127];
      for (int j = 0; j < 8; ++j) {
        const float v = db * grid_value(g, j);
        y[32 * ib + 8 * l + j] = (signs >> j) & 1 ? -v : v;
      }
    }
  }
}

// IQ2_S: d f16 @0, qs u8[32] @2 (grid index low bits), signs u8[32] @34, qh u8[8] @66, scales u8[8] @74.
inline void decode_iq2_s(const std::uint8_t* b, float* y) {
  const float d = read_f16(b);
  for (int ib = 0; ib < 8; ++ib) {
    const float db[2] = {d * (0.5f + static_cast<float>(b[74 + ib] & 0xF)) * 0.25f,
                         d * (0.5f + static_cast<float>(b[74 + ib] >> 4)) * 0.25f};
    for (int l = 0; l < 4; ++l) {
      const int idx = b[2 + 4 * ib + l] | (((b[66 + ib] >> (2 * l)) & 3) << 8);
      const std::uint64_t g = kIq2sGrid[idx];
      const std::uint8_t signs = b[34 + 4 * ib + l];
      for (int j = 0; j < 8; ++j) {
        const float v = db[l / 2] * grid_value(g, j);
        y[32 * ib + 8 * l + j] = (signs >> j) & 1 ? -v : v;
      }
    }
  }
}

// IQ3_S: d f16 @0, qs u8[64] @2, qh u8[8] @66, signs u8[32] @74, scales u8[4] @106; db = d·(1 + 2·s).
inline void decode_iq3_s(const std::uint8_t* b, float* y) {
  const float d = read_f16(b);
  for (int ib = 0; ib < 8; ++ib) {
    const float db = d * static_cast<float>(1 + 2 * ((b[106 + ib / 2] >> (4 * (ib % 2))) & 0xF));
    for (int k = 0; k < 8; ++k) {  // 8 grid points of 4 values
      const int i = 8 * ib + k;
      const int idx = b[2 + i] | (((b[66 + ib] >> k) & 1) << 8);
      const std::uint32_t g = kIq3sGrid[idx];
      for (int j = 0; j < 4; ++j) {
        const int e = 4 * k + j;  // element within the 32-block
        const float v = db * static_cast<float>((g >> (8 * j)) & 0xFF);
        y[32 * ib + e] = (b[74 + 4 * ib + e / 8] >> (e % 8)) & 1 ? -v : v;
      }
    }
  }
}

}  // namespace glmq::ggml
