// The K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) × int8 activations with one scale per 256 (Q8_K-like). Layouts:
// shared/docs/quant_gguf.md §4.3 and the decoders in quant/ggml_block_decode.h. Two families:
//   Q4_K, Q5_K          a 6-bit scale and min per 32 elements, nibbles of two sub-blocks per code byte
//   Q2_K, Q3_K, Q6_K    a scale per 16 elements, codes in natural order (plus Q2_K's 4-bit mins)
#include "backend/cpu/q8_kernels.h"

#ifdef GLMQ_CPU_INT8_KERNELS
#include "backend/cpu/q8_kernel_util.h"

namespace glmq::cpu {

namespace {

using namespace q8;

// Q4_K: int32 lane l of the low (v = 0) / high (v = 1) nibbles' product with a 64-byte code vector covers sub-block
// v + 2·(l / 8) of the first code vector, 4 + v + 2·(l / 8) of the second.
constexpr LanePattern kQ4kPairs[2] = {packed_pattern([](int v, int l) { return v + 2 * (l / 8); }),
                                      packed_pattern([](int v, int l) { return 4 + v + 2 * (l / 8); })};

// 64 bytes holding `low` in bytes 0..31 and `high` in bytes 32..63.
inline __m512i halves(std::uint8_t low, std::uint8_t high) {
  return _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(low)), _mm256_set1_epi8(static_cast<char>(high)), 1);
}

// Q4_K (144-byte super-blocks) and Q5_K (176): d f16 @0, dmin f16 @2, packed 6-bit scales and mins @4, Q5_K's fifth
// bits qh @16, then 128 code bytes; codes of sub-blocks 2p and 2p+1 share code bytes 32p .. 32p+31 (low and high
// nibbles), and Q5_K's bit j of qh[l] is the fifth bit of sub-block j's element l. Activations in Q8Order::Q4K, so a
// 64-byte code load's low nibbles meet one 64-byte activation load and its high nibbles the next.
// y = d·sc·q − dmin·m per 32-element sub-block, so Σ y·x = d·dₓ·Σ_j sc_j·(q·qₓ)_j − dmin·dₓ·Σ_j m_j·(Σ qₓ)_j.
template <bool kFifthBit>
struct Q45K {
  static constexpr std::size_t kBytes = kFifthBit ? 176 : 144, kCodes = kFifthBit ? 48 : 16;
  struct Super {
    float d, dmin;
    __m512i scale[2], q[4];
    __m256i mins;
    explicit Super(const std::uint8_t* b) : d(f16(b)), dmin(f16(b + 2)) {
      const __m512i m4 = _mm512_set1_epi8(0x0F);
      // The 8 six-bit scales (bytes 0..7) and mins (8..15) of scale_min_k4, unpacked in registers: writing them
      // to memory byte by byte and loading a vector would stall on store forwarding once per super-block.
      std::uint32_t u[3];
      std::memcpy(u, b + 4, 12);
      constexpr std::uint32_t k6 = 0x3f3f3f3f, k4 = 0x0f0f0f0f, k2 = 0x03030303;
      const __m128i packed = _mm_set_epi32(static_cast<int>(((u[2] >> 4) & k4) | (((u[1] >> 6) & k2) << 4)),
                                           static_cast<int>(u[1] & k6),
                                           static_cast<int>((u[2] & k4) | (((u[0] >> 6) & k2) << 4)),
                                           static_cast<int>(u[0] & k6));
      const __m512i sc16 = _mm512_cvtepu8_epi16(_mm256_castsi128_si256(packed));  // lanes 0..7: scales
      mins = _mm256_cvtepu8_epi32(_mm_srli_si128(packed, 8));
      for (int k = 0; k < 2; ++k) scale[k] = _mm512_permutexvar_epi16(load_pattern(kQ4kPairs[k]), sc16);
      for (int k = 0; k < 2; ++k) {
        const __m512i c = load512(b + kCodes + 64 * k);
        q[2 * k] = _mm512_and_si512(c, m4);
        q[2 * k + 1] = _mm512_and_si512(_mm512_srli_epi16(c, 4), m4);
      }
      if constexpr (kFifthBit) {
        // Code byte i of vector k holds sub-blocks 4k + 2·(i / 32) (low nibble) and the one after (high), element
        // i % 32: their fifth bits are bits 4k + 2·(i / 32) and 4k + 2·(i / 32) + 1 of qh[i % 32].
        const __m512i qh = _mm512_broadcast_i64x4(load256(b + 16)), sixteen = _mm512_set1_epi8(16);
        for (int k = 0; k < 2; ++k) {
          const auto low_bit = static_cast<std::uint8_t>(1u << (4 * k));
          const __mmask64 lo = _mm512_test_epi8_mask(qh, halves(low_bit, static_cast<std::uint8_t>(low_bit << 2)));
          const __mmask64 hi = _mm512_test_epi8_mask(qh, halves(static_cast<std::uint8_t>(low_bit << 1),
                                                                static_cast<std::uint8_t>(low_bit << 3)));
          q[2 * k] = _mm512_mask_add_epi8(q[2 * k], lo, q[2 * k], sixteen);
          q[2 * k + 1] = _mm512_mask_add_epi8(q[2 * k + 1], hi, q[2 * k + 1], sixteen);
        }
      }
    }
    __m512 accumulate(__m512 acc, const std::int8_t* a, const std::int16_t*, const std::int32_t* sum32, float dx) const {
      __m512i isum = _mm512_setzero_si512();
      for (int k = 0; k < 2; ++k) {
        const __m512i p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[2 * k], load512(a + 128 * k));
        const __m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[2 * k + 1], load512(a + 128 * k + 64));
        isum = add_scaled(isum, p0, p1, scale[k]);
      }
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * dx), acc);
      // The mins' term in lanes 0..7 (the upper lanes add zero).
      const __m512i msum = _mm512_zextsi256_si512(_mm256_mullo_epi32(mins, load256(sum32)));
      return _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_set1_ps(-(dmin * dx)), acc);
    }
  };
};

// What a super-block of a scale-per-16 K-quant decodes to: four 64-element chunks of unsigned codes c in natural
// order, the 16 scales sc_i and (Q2_K) mins m_i as int16, and the float factors.
struct SixteenCodes {
  float d, dmin = 0.0f;
  __m512i q[4];
  __m256i sc16, min16 = _mm256_setzero_si256();
};

// The 2-bit fields of 64 code bytes as four natural 64-element chunks: element 128·h + 32·s + l is bits 2s..2s+1 of
// byte 32·h + l (Q2_K, Q3_K; Q6_K's qh the same way), so chunk 2h + j takes bits 4j (bytes' first 32 elements) and
// 4j + 2 (next 32) of bytes 32·h .. 32·h + 31.
inline void two_bit_chunks(const std::uint8_t* bytes, __m512i* out) {
  const __m512i m2 = _mm512_set1_epi8(0x03);
  // 16-bit lanes 0..15 cover bytes 0..31, lanes 16..31 bytes 32..63.
  const __m512i shift[2] = {_mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1),
                            _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1)};
  for (int h = 0; h < 2; ++h) {
    const __m512i v = _mm512_broadcast_i64x4(load256(bytes + 32 * h));
    for (int j = 0; j < 2; ++j) out[2 * h + j] = _mm512_and_si512(_mm512_srlv_epi16(v, shift[j]), m2);
  }
}

// Q2_K: 84-byte super-blocks: scales u8[16] @0 (scale in the low nibble, min in the high), codes @16, d f16 @80,
// dmin f16 @82. y = d·sc·q − dmin·m.
struct Q2KLayout {
  static constexpr std::size_t kBytes = 84;
  static constexpr int kOffsetShift = -1;  // no offset
  static SixteenCodes decode(const std::uint8_t* b) {
    SixteenCodes c;
    c.d = f16(b + 80);
    c.dmin = f16(b + 82);
    const __m128i s = load128(b), m4 = _mm_set1_epi8(0x0F);
    c.sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(s, m4));
    c.min16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), m4));
    two_bit_chunks(b + 16, c.q);
    return c;
  }
};

// Q3_K: 110-byte super-blocks: hmask u8[32] @0, low code bits @32 (as Q2_K's), 16 six-bit scales packed in 12 bytes
// @96, d f16 @108. Element 32·j + l is low − 4 where bit j of hmask[l] is clear, so with c = low + 4·bit,
// y = d·(sc − 32)·(c − 4).
struct Q3KLayout {
  static constexpr std::size_t kBytes = 110;
  static constexpr int kOffsetShift = 2;  // 4
  static SixteenCodes decode(const std::uint8_t* b) {
    SixteenCodes c;
    c.d = f16(b + 108);
    // Scale i: low nibble from byte i % 8 (the high nibble for i ≥ 8), bits 4..5 from byte 8 + i % 4 at 2·(i / 4).
    // Four at a time as u32 lanes: i = 4g .. 4g + 3 take nibbles of u[g % 2] (shifted by 4 for g ≥ 2) and the
    // 2-bit fields of u[2] at 2g.
    std::uint32_t u[3];
    std::memcpy(u, b + 96, 12);
    constexpr std::uint32_t k4 = 0x0f0f0f0f, k2 = 0x03030303;
    const __m128i six = _mm_set_epi32(static_cast<int>(((u[1] >> 4) & k4) | (((u[2] >> 6) & k2) << 4)),
                                      static_cast<int>(((u[0] >> 4) & k4) | (((u[2] >> 4) & k2) << 4)),
                                      static_cast<int>((u[1] & k4) | (((u[2] >> 2) & k2) << 4)),
                                      static_cast<int>((u[0] & k4) | ((u[2] & k2) << 4)));
    c.sc16 = _mm256_cvtepi8_epi16(_mm_sub_epi8(six, _mm_set1_epi8(32)));
    two_bit_chunks(b + 32, c.q);
    // Chunk k covers j = 2k (its first 32 bytes) and 2k + 1 (the next 32).
    const __m512i hm = _mm512_broadcast_i64x4(load256(b)), four = _mm512_set1_epi8(4);
    for (int k = 0; k < 4; ++k) {
      const __mmask64 high = _mm512_test_epi8_mask(
          hm, halves(static_cast<std::uint8_t>(1u << (2 * k)), static_cast<std::uint8_t>(2u << (2 * k))));
      c.q[k] = _mm512_mask_add_epi8(c.q[k], high, c.q[k], four);
    }
    return c;
  }
};

// Q6_K: 210-byte super-blocks of two 128-element halves; in half h, code byte j of ql (64 bytes) holds element j in
// its low nibble and element 64 + j in its high nibble, and the top two bits come from qh[j % 32] at shift
// 2·(j / 32) (+4 for the high nibble). scales int8[16] @192, d f16 @208. y = d·sc·(q − 32).
struct Q6KLayout {
  static constexpr std::size_t kBytes = 210;
  static constexpr int kOffsetShift = 5;  // 32
  static SixteenCodes decode(const std::uint8_t* b) {
    SixteenCodes c;
    c.d = f16(b + 208);
    c.sc16 = _mm256_cvtepi8_epi16(load128(b + 192));
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512i high[4];  // chunk 2h + j's top bits (as two_bit_chunks of qh) belong to half h's nibbles j
    two_bit_chunks(b + 128, high);
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = load512(b + 64 * h);
      c.q[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(high[2 * h], 4));
      c.q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), _mm512_slli_epi16(high[2 * h + 1], 4));
    }
    return c;
  }
};

// The scale-per-16 K-quants, activations natural: y = d·sc_i·(c − 2^kOffsetShift) − dmin·m_i per 16 elements, so
// Σ y·x = d·dₓ·Σ_i sc_i·((c·qₓ)_i − 2^kOffsetShift·(Σ qₓ)_i) − dmin·dₓ·Σ_i m_i·(Σ qₓ)_i, all sums over i in int32.
template <class L>
struct Sixteens {
  static constexpr std::size_t kBytes = L::kBytes;
  struct Super {
    SixteenCodes c;
    __m512i scale[2];
    explicit Super(const std::uint8_t* b) : c(L::decode(b)) {
      for (int k = 0; k < 2; ++k) scale[k] = _mm512_permutexvar_epi16(load_pattern(kSixteenPairs[k]), _mm512_zextsi256_si512(c.sc16));
    }
    __m512 accumulate(__m512 acc, const std::int8_t* a, const std::int16_t* sum16, const std::int32_t*, float dx) const {
      const __m256i s16 = load256(sum16);
      __m512i isum = _mm512_setzero_si512();
      if constexpr (L::kOffsetShift >= 0)  // the offset's term, in lanes 0..7
        isum = _mm512_zextsi256_si512(
            _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(c.sc16, s16), L::kOffsetShift)));
      for (int k = 0; k < 2; ++k) {
        const __m512i p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c.q[2 * k], load512(a + 128 * k));
        const __m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c.q[2 * k + 1], load512(a + 128 * k + 64));
        isum = add_scaled(isum, p0, p1, scale[k]);
      }
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(c.d * dx), acc);
      if constexpr (L::kOffsetShift < 0) {  // the mins' term, in lanes 0..7
        const __m512i msum = _mm512_zextsi256_si512(_mm256_madd_epi16(c.min16, s16));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_set1_ps(-(c.dmin * dx)), acc);
      }
      return acc;
    }
  };
};

}  // namespace

void q2_k_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
               float* y, std::int64_t y_stride) {
  for_rows<Blocks256<Sixteens<Q2KLayout>>>(w, r0, r1, a, t0, t1, y, y_stride);
}

void q3_k_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
               float* y, std::int64_t y_stride) {
  for_rows<Blocks256<Sixteens<Q3KLayout>>>(w, r0, r1, a, t0, t1, y, y_stride);
}

void q4_k_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
               float* y, std::int64_t y_stride) {
  for_rows<Blocks256<Q45K<false>>>(w, r0, r1, a, t0, t1, y, y_stride);
}

void q5_k_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
               float* y, std::int64_t y_stride) {
  for_rows<Blocks256<Q45K<true>>>(w, r0, r1, a, t0, t1, y, y_stride);
}

void q6_k_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
               float* y, std::int64_t y_stride) {
  for_rows<Blocks256<Sixteens<Q6KLayout>>>(w, r0, r1, a, t0, t1, y, y_stride);
}

}  // namespace glmq::cpu
#endif
