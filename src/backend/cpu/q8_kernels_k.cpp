// Q4_K and Q6_K × int8 activations with one scale per 256 (Q8_K-like). Layouts: shared/docs/quant_gguf.md §4.3.
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
// Q6_K (and IQ2_S): 16-element sub-blocks, 4 int32 lanes each; results v = 0, 1 of a pair are consecutive 64s.
constexpr LanePattern kSixteenPairs[2] = {packed_pattern([](int v, int l) { return 4 * v + l / 4; }),
                                          packed_pattern([](int v, int l) { return 8 + 4 * v + l / 4; })};

// Q4_K: 144-byte super-blocks; codes of sub-blocks 2p and 2p+1 share bytes 16 + 32p .. (low and high nibbles).
// Activations in Q8Order::Q4K, so a 64-byte code load's low nibbles meet one 64-byte activation load and its high
// nibbles the next. y = d·sc·q − dmin·m per 32-element sub-block, so
// Σ y·x = d·dₓ·Σ_j sc_j·(q·qₓ)_j − dmin·dₓ·Σ_j m_j·(Σ qₓ)_j.
struct Q4K {
  static constexpr std::size_t kBytes = 144;
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
      const __m512i c0 = load512(b + 16), c1 = load512(b + 80);
      q[0] = _mm512_and_si512(c0, m4);
      q[1] = _mm512_and_si512(_mm512_srli_epi16(c0, 4), m4);
      q[2] = _mm512_and_si512(c1, m4);
      q[3] = _mm512_and_si512(_mm512_srli_epi16(c1, 4), m4);
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

// Q6_K: 210-byte super-blocks of two 128-element halves; in half h, code byte j of ql (64 bytes) holds element j in
// its low nibble and element 64 + j in its high nibble, and the top two bits come from qh[j % 32] at shift
// 2·(j / 32) (+4 for the high nibble). Activations natural. y = d·sc_i·(q − 32) per 16 elements, so
// Σ y·x = d·dₓ·Σ_i sc_i·((q·qₓ)_i − 32·(Σ qₓ)_i).
struct Q6K {
  static constexpr std::size_t kBytes = 210;
  struct Super {
    float d;
    __m512i scale[2], q[4], sc32;
    explicit Super(const std::uint8_t* b) : d(f16(b + 208)) {
      const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x03);
      // 16-bit lanes 0..15 cover bytes 0..31 (qh bits 0-1 / 4-5), lanes 16..31 bytes 32..63 (bits 2-3 / 6-7).
      const __m512i shift_lo = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
      const __m512i shift_hi = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
      const __m128i sc8 = load128(b + 192);
      const __m512i sc16 = _mm512_cvtepi8_epi16(_mm256_zextsi128_si256(sc8));
      sc32 = _mm512_cvtepi8_epi32(sc8);
      for (int k = 0; k < 2; ++k) scale[k] = _mm512_permutexvar_epi16(load_pattern(kSixteenPairs[k]), sc16);
      for (int h = 0; h < 2; ++h) {
        const __m512i ql = load512(b + 64 * h);
        const __m512i qh = _mm512_broadcast_i64x4(load256(b + 128 + 32 * h));
        const __m512i hi_lo = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, shift_lo), m2), 4);
        const __m512i hi_hi = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, shift_hi), m2), 4);
        q[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, m4), hi_lo);
        q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), hi_hi);
      }
    }
    __m512 accumulate(__m512 acc, const std::int8_t* a, const std::int16_t* sum16, const std::int32_t*, float dx) const {
      // The −32 offset, per sub-block: 32·sc_i·(Σ qₓ)_i, subtracted in int32.
      const __m512i s16 = _mm512_cvtepi16_epi32(load256(sum16));
      __m512i isum = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(_mm512_mullo_epi32(sc32, s16), 5));
      for (int k = 0; k < 2; ++k) {
        const __m512i p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[2 * k], load512(a + 128 * k));
        const __m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[2 * k + 1], load512(a + 128 * k + 64));
        isum = add_scaled(isum, p0, p1, scale[k]);
      }
      return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * dx), acc);
    }
  };
};

}  // namespace

void q4_k_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
               float* y, std::int64_t y_stride) {
  for_rows<Blocks256<Q4K>>(w, r0, r1, a, t0, t1, y, y_stride);
}

void q6_k_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
               float* y, std::int64_t y_stride) {
  for_rows<Blocks256<Q6K>>(w, r0, r1, a, t0, t1, y, y_stride);
}

}  // namespace glmq::cpu
#endif
