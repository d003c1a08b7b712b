// The 32-element block types whose codes are 16 bytes of nibbles (element j low, j + 16 high) — IQ4_NL, Q4_0,
// Q5_0, Q5_1 — × int8 activations with one scale per 32 in Q8Order::NibbleGroups. Four blocks' code bytes fill
// one 64-byte vector, one 128-bit lane each, so their low nibbles meet one activation vector and their high
// nibbles the next. Codes go into vpdpbusd as unsigned bytes c = q + offset, and offset·Σ qₓ per block is
// subtracted exactly in int32:
//   IQ4_NL  y = d·level(q)          c = level + 128 (vpshufb)        Σ y·x = d·dₓ·(Σ c·qₓ − 128·Σ qₓ)
//   Q4_0    y = d·(q − 8)           c = q                            Σ y·x = d·dₓ·(Σ c·qₓ − 8·Σ qₓ)
//   Q5_0    y = d·(q − 16)          c = q | fifth bit << 4           Σ y·x = d·dₓ·(Σ c·qₓ − 16·Σ qₓ)
//   Q5_1    y = d·q + m             c = q | fifth bit << 4           Σ y·x = d·dₓ·Σ c·qₓ + m·dₓ·Σ qₓ
// Layouts: shared/docs/quant_gguf.md §4.3 and ggml-common.h's block_q4_0 / block_q5_0 / block_q5_1.
#include "backend/cpu/q8_kernels.h"

#ifdef GLMQ_CPU_INT8_KERNELS
#include "backend/cpu/q8_kernel_util.h"

namespace glmq::cpu {

namespace {

using namespace q8;

// Where each type keeps its fields; -1 for a field it does not have.
struct Iq4NlLayout {
  static constexpr std::size_t kBytes = 18, kQs = 2;
  static constexpr int kQh = -1, kMin = -1, kOffsetShift = 7;
  static constexpr bool kLevels = true;
};
struct Q4_0Layout {
  static constexpr std::size_t kBytes = 18, kQs = 2;
  static constexpr int kQh = -1, kMin = -1, kOffsetShift = 3;
  static constexpr bool kLevels = false;
};
struct Q5_0Layout {
  static constexpr std::size_t kBytes = 22, kQs = 6;
  static constexpr int kQh = 2, kMin = -1, kOffsetShift = 4;
  static constexpr bool kLevels = false;
};
struct Q5_1Layout {
  static constexpr std::size_t kBytes = 24, kQs = 8;
  static constexpr int kQh = 4, kMin = 2, kOffsetShift = -1;
  static constexpr bool kLevels = false;
};

inline std::uint32_t fifth_bits(const std::uint8_t* b, int at) {
  std::uint32_t qh;
  std::memcpy(&qh, b + at, 4);
  return qh;
}

template <class L>
struct Nibbles {
  static constexpr std::size_t kBytes = L::kBytes;

  struct Four {
    static constexpr ByteIndex kCodes = four_block_codes<kBytes>(L::kQs);
    static constexpr LanePattern kScales = four_block_halves<kBytes>(0);
    static constexpr LanePattern kMins = four_block_halves<kBytes>(L::kMin >= 0 ? L::kMin : 0);
    // Bytes 0..7: the low 16 fifth bits of blocks 0..3 (two bytes each); bytes 8..15: their high 16.
    static constexpr ByteIndex kFifthBits = [] {
      ByteIndex x{};
      for (std::size_t i = 0; i < 16; ++i)
        x.at[i] = FourBlockBytes<kBytes>::byte_index(kBytes * (i % 8 / 2) + static_cast<std::size_t>(L::kQh >= 0 ? L::kQh : 0) +
                                                     i / 8 * 2 + i % 2);
      return x;
    }();

    __m512i lo, hi;
    __m128 d, m;
    explicit Four(const std::uint8_t* b) : m(_mm_setzero_ps()) {
      const FourBlockBytes<kBytes> blocks(b);
      const __m512i m4 = _mm512_set1_epi8(0x0F), c = blocks.bytes(load_index(kCodes));
      d = four_f16(blocks.words(load_pattern(kScales)));
      lo = _mm512_and_si512(c, m4);
      hi = _mm512_and_si512(_mm512_srli_epi16(c, 4), m4);
      if constexpr (L::kLevels) {
        const __m512i levels = shifted_iq4_levels();
        lo = _mm512_shuffle_epi8(levels, lo);
        hi = _mm512_shuffle_epi8(levels, hi);
      }
      if constexpr (L::kQh >= 0) {
        // Bit j of block k's qh belongs to byte j of lane k of `lo` (j < 16) or byte j − 16 of lane k of `hi`.
        const __m128i qh = _mm512_castsi512_si128(blocks.bytes(load_index(kFifthBits)));
        const __m512i sixteen = _mm512_set1_epi8(16);
        lo = _mm512_mask_add_epi8(lo, _cvtu64_mask64(static_cast<std::uint64_t>(_mm_cvtsi128_si64(qh))), lo, sixteen);
        hi = _mm512_mask_add_epi8(hi, _cvtu64_mask64(static_cast<std::uint64_t>(_mm_extract_epi64(qh, 1))), hi, sixteen);
      }
      if constexpr (L::kMin >= 0) m = four_f16(blocks.words(load_pattern(kMins)));
    }
    __m512 accumulate(__m512 acc, const std::int8_t* a, const std::int32_t* sum32, __m128 dx) const {
      __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, load512(a));
      p = _mm512_dpbusd_epi32(p, hi, load512(a + 64));
      if constexpr (L::kOffsetShift >= 0) p = _mm512_sub_epi32(p, block_offsets<L::kOffsetShift>(sum32));
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), per_block_lanes(_mm_mul_ps(d, dx)), acc);
      if constexpr (L::kMin >= 0) {
        const __m128 mins = _mm_mul_ps(_mm_mul_ps(m, dx), _mm_cvtepi32_ps(load128(sum32)));
        acc = _mm512_add_ps(acc, _mm512_zextps128_ps512(mins));
      }
      return acc;
    }
  };

  struct One {
    __m128i lo, hi;
    float d, m = 0.0f;
    explicit One(const std::uint8_t* b) : d(f16(b)) {
      const __m128i m4 = _mm_set1_epi8(0x0F);
      const __m128i c = load128(b + L::kQs);
      lo = _mm_and_si128(c, m4);
      hi = _mm_and_si128(_mm_srli_epi16(c, 4), m4);
      if constexpr (L::kLevels) {
        const __m128i levels = _mm512_castsi512_si128(shifted_iq4_levels());
        lo = _mm_shuffle_epi8(levels, lo);
        hi = _mm_shuffle_epi8(levels, hi);
      }
      if constexpr (L::kQh >= 0) {
        const std::uint32_t qh = fifth_bits(b, L::kQh);
        const __m128i sixteen = _mm_set1_epi8(16);
        lo = _mm_mask_add_epi8(lo, static_cast<__mmask16>(qh & 0xFFFF), lo, sixteen);
        hi = _mm_mask_add_epi8(hi, static_cast<__mmask16>(qh >> 16), hi, sixteen);
      }
      if constexpr (L::kMin >= 0) m = f16(b + L::kMin);
    }
    float dot(const std::int8_t* a, std::int32_t sum32, float dx) const {
      __m128i p = _mm_dpbusd_epi32(_mm_setzero_si128(), lo, load128(a));
      p = _mm_dpbusd_epi32(p, hi, load128(a + 16));
      int isum = hsum4(p);
      if constexpr (L::kOffsetShift >= 0) isum -= sum32 * (1 << L::kOffsetShift);
      float r = d * dx * static_cast<float>(isum);
      if constexpr (L::kMin >= 0) r += m * dx * static_cast<float>(sum32);
      return r;
    }
  };
};

}  // namespace

void iq4_nl_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
                 float* y, std::int64_t y_stride) {
  for_rows<Blocks32<Nibbles<Iq4NlLayout>>>(w, r0, r1, a, t0, t1, y, y_stride);
}

void q4_0_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
               float* y, std::int64_t y_stride) {
  for_rows<Blocks32<Nibbles<Q4_0Layout>>>(w, r0, r1, a, t0, t1, y, y_stride);
}

void q5_0_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
               float* y, std::int64_t y_stride) {
  for_rows<Blocks32<Nibbles<Q5_0Layout>>>(w, r0, r1, a, t0, t1, y, y_stride);
}

void q5_1_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
               float* y, std::int64_t y_stride) {
  for_rows<Blocks32<Nibbles<Q5_1Layout>>>(w, r0, r1, a, t0, t1, y, y_stride);
}

}  // namespace glmq::cpu
#endif
