// MLX affine weights × int8 activations with one scale per 32 in Q8Order::NibbleGroups. A weight is
// w = scale_g·q + bias_g per group g of 32, 64 or 128 inputs, q an unsigned Bits-bit code (Bits = 2, 3, 4, 5, 6, 8)
// packed LSB-first (quant/mlx_affine_unpack.h). Per 32-element activation block b of group g (x ≈ d_b·qₓ):
//   Σ w·x = scale_g·d_b·Σ q·qₓ + bias_g·d_b·Σ qₓ
// The codes go into vpdpbusd as they are (unsigned bytes against signed activations); d_b·Σ qₓ is the activations'
// dsum32. 128 elements (four activation blocks; one, two or four groups) are decoded at a time.
//
// Unpacking, 64 codes at once: every 8 codes fill Bits whole bytes, so one byte permute (vpermb / vpermt2b) puts
// the Bits bytes of each octet of codes into a 64-bit lane, one multishift (vpmultishiftqb) moves code j of each lane
// (the bits from j·Bits on) into byte j, and one AND keeps its Bits bits; 8-bit codes need the permute only. The
// permute also picks which octets go where, so the codes come out in the activations' NibbleGroups order (block k
// in 128-bit lane k of both vectors) and one int32 vector collects a unit's four block sums. The activations of a
// row's last 32..96 elements stay in natural order (q8_activations.h), and so do the codes there.
#include "backend/cpu/q8_kernels.h"

#ifdef GLMQ_CPU_INT8_KERNELS
#include "backend/cpu/q8_kernel_util.h"

namespace glmq::cpu {

namespace {

using namespace q8;

// Bytes 0..n-1 of a load.
constexpr std::uint64_t first_bytes(int n) { return n >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1; }

// Codes in 64-bit lanes of packed bytes → one code per byte: byte j of each lane takes the Bits bits from bit j·Bits.
template <int Bits>
inline __m512i spread_codes(__m512i lanes) {
  if constexpr (Bits == 8) {
    return lanes;
  } else {
    static constexpr ByteIndex kShifts = [] {
      ByteIndex x{};
      for (int i = 0; i < 64; ++i) x.at[i] = static_cast<std::uint8_t>(i % 8 * Bits);
      return x;
    }();
    return _mm512_and_si512(_mm512_multishift_epi64_epi8(load_index(kShifts), lanes), _mm512_set1_epi8((1 << Bits) - 1));
  }
}

// Permute index putting the Bits packed bytes of code octet octet(k) into 64-bit lane k (bytes past them only need
// to stay in range); byte(o) maps an offset in the packed codes to the permute's source byte.
template <int Bits, class Octet, class Byte>
constexpr ByteIndex octet_gather(Octet octet, Byte byte) {
  ByteIndex x{};
  for (int i = 0; i < 64; ++i) x.at[i] = byte(static_cast<std::size_t>(octet(i / 8) * Bits + std::min(i % 8, Bits - 1)));
  return x;
}

// The codes of 128 elements (16·Bits bytes) in Q8Order::NibbleGroups: vector 0 holds elements 0..15 of each of the
// four 32-element blocks (block k in 128-bit lane k), vector 1 elements 16..31, so each vpdpbusd lane sums one
// block and the two vectors' products add up in int32. Lane k of vector v takes octet 4·(k/2) + 2v + k%2.
template <int Bits>
struct UnitCodes {
  static constexpr std::size_t kBytes = 16 * Bits;
  static constexpr int octet(int v, int k) { return 4 * (k / 2) + 2 * v + k % 2; }
  // Up to 64 bytes: one load, masked so nothing past the unit is read. More: FourBlockBytes' two overlapping loads.
  static constexpr bool kOneLoad = kBytes <= 64;
  static constexpr ByteIndex gather(int v) {
    if constexpr (kOneLoad) {
      return octet_gather<Bits>([v](int k) { return octet(v, k); }, [](std::size_t o) { return static_cast<std::uint8_t>(o); });
    } else {
      return octet_gather<Bits>([v](int k) { return octet(v, k); },
                                [](std::size_t o) { return FourBlockBytes<kBytes / 4>::byte_index(o); });
    }
  }
  static constexpr ByteIndex kGather[2] = {gather(0), gather(1)};

  static void unpack(const std::uint8_t* p, __m512i out[2]) {
    if constexpr (kOneLoad) {
      const __m512i packed = _mm512_maskz_loadu_epi8(_cvtu64_mask64(first_bytes(static_cast<int>(kBytes))), p);
      for (int v = 0; v < 2; ++v) out[v] = spread_codes<Bits>(_mm512_permutexvar_epi8(load_index(kGather[v]), packed));
    } else {
      const FourBlockBytes<kBytes / 4> packed(p);
      for (int v = 0; v < 2; ++v) out[v] = spread_codes<Bits>(packed.bytes(load_index(kGather[v])));
    }
  }
};

// The codes of the last 32·blocks elements of a row (blocks < 4, natural order like their activations), 64 at a
// time: the 8·Bits bytes of elements 64h.. as one masked load, lane k taking octet k.
template <int Bits>
struct TailCodes {
  static constexpr ByteIndex kGather =
      octet_gather<Bits>([](int k) { return k; }, [](std::size_t o) { return static_cast<std::uint8_t>(o); });
  static __m512i unpack(const std::uint8_t* p, int codes) {
    const __m512i packed = _mm512_maskz_loadu_epi8(_cvtu64_mask64(first_bytes(codes * Bits / 8)), p);
    return spread_codes<Bits>(_mm512_permutexvar_epi8(load_index(kGather), packed));
  }
};

// `count` scales or biases from group g0 on, stored as Aux, as floats in lanes 0..count-1 (the rest 0).
template <WeightType Aux>
inline __m128 aux_floats(const std::uint8_t* aux, std::int64_t g0, int count) {
  const auto lanes = static_cast<__mmask8>((1u << count) - 1u);
  if constexpr (Aux == WeightType::BF16) {
    return _mm_castsi128_ps(_mm_slli_epi32(_mm_cvtepu16_epi32(_mm_maskz_loadu_epi16(lanes, aux + 2 * g0)), 16));
  } else if constexpr (Aux == WeightType::F16) {
    return _mm_cvtph_ps(_mm_maskz_loadu_epi16(lanes, aux + 2 * g0));
  } else {
    return _mm_maskz_loadu_ps(lanes, aux + 4 * g0);
  }
}

// Per-group values (lanes 0.. of v) as per-block values: block k of the 128 elements is in group k·32/Group.
template <int Group>
inline __m128 per_block(__m128 v) {
  if constexpr (Group == 32) return v;
  if constexpr (Group == 64) return _mm_permute_ps(v, 0x50);  // 0, 0, 1, 1
  return _mm_permute_ps(v, 0x00);
}

// 128 elements of a row (Partial: its last 32·blocks, blocks < 4), decoded once and applied to each token.
template <int Bits, int Group, WeightType Aux, bool Partial>
struct Unit {
  __m512i codes[2];  // whole units: NibbleGroups halves (UnitCodes); tails: elements 0..63, 64..127
  __m128 scale, bias;  // per activation block
  __mmask64 acts[2] = {~__mmask64{0}, ~__mmask64{0}};  // Partial: the activation bytes that exist
  __mmask8 block_lanes = 0xF;

  Unit(const std::uint8_t* p, const std::uint8_t* scales, const std::uint8_t* biases, std::int64_t g0, int blocks) {
    if constexpr (Partial) {
      for (int h = 0; h < 2; ++h) {
        const int valid = std::clamp(32 * blocks - 64 * h, 0, 64);  // codes of this half
        acts[h] = _cvtu64_mask64(first_bytes(valid));
        codes[h] = TailCodes<Bits>::unpack(p + h * 8 * Bits, valid);
      }
      block_lanes = static_cast<__mmask8>((1u << blocks) - 1u);
    } else {
      UnitCodes<Bits>::unpack(p, codes);
    }
    const int groups = Partial ? 32 * blocks / Group : 128 / Group;
    scale = per_block<Group>(aux_floats<Aux>(scales, g0, groups));
    bias = per_block<Group>(aux_floats<Aux>(biases, g0, groups));
  }

  // Adds Σ w·x over the unit to acc (the scale terms) and offsets (the bias terms, per block in lanes 0..3; kept apart
  // so the two sums do not wait on each other): activations at q (NibbleGroups order; a tail natural), their block
  // scales at d and scaled block sums at dsum.
  void accumulate(__m512& acc, __m128& offsets, const std::int8_t* q, const float* d, const float* dsum) const {
    const __m128 s = _mm_mul_ps(scale, Partial ? _mm_maskz_loadu_ps(block_lanes, d) : _mm_loadu_ps(d));
    if constexpr (Partial) {
      // Blocks 2h and 2h + 1 fill the low and high halves of product h.
      const __m512i pairs[2] = {_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2)};
      for (int h = 0; h < 2; ++h) {
        const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), codes[h], _mm512_maskz_loadu_epi8(acts[h], q + 64 * h));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(pairs[h], _mm512_castps128_ps512(s)), acc);
      }
      offsets = _mm_fmadd_ps(bias, _mm_maskz_loadu_ps(block_lanes, dsum), offsets);
    } else {
      __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), codes[0], load512(q));
      p = _mm512_dpbusd_epi32(p, codes[1], load512(q + 64));
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), per_block_lanes(s), acc);
      offsets = _mm_fmadd_ps(bias, _mm_loadu_ps(dsum), offsets);
    }
  }
};

template <int Bits, int Group, WeightType Aux>
struct AffineRows {
  static constexpr std::size_t kCodeBytes = 16 * Bits;  // per 128 elements
  static constexpr std::int64_t kGroups = 128 / Group;  // per 128 elements

  template <int NT>
  static void sums(const WeightMatrix& w, std::int64_t r, const std::uint8_t* codes, const Tokens<NT>& tk, __m512* acc,
                   float* tail, std::ptrdiff_t ahead = 0) {
    constexpr std::size_t kAuxSize = Aux == WeightType::F32 ? 4 : 2;
    const std::size_t aux_row = static_cast<std::size_t>(w.cols / Group) * kAuxSize;
    const std::uint8_t* scales = w.scales + static_cast<std::size_t>(r) * aux_row;
    const std::uint8_t* biases = w.biases + static_cast<std::size_t>(r) * aux_row;
    if (ahead) {
      // Scales and biases are streams of their own, a few bytes per row: prefetched once per row, as far ahead in
      // elements as the codes.
      const std::ptrdiff_t aux_ahead = ahead * static_cast<std::ptrdiff_t>(kGroups * kAuxSize) / static_cast<std::ptrdiff_t>(kCodeBytes);
      prefetch_lines(scales, aux_ahead, aux_row);
      prefetch_lines(biases, aux_ahead, aux_row);
    }
    const std::int64_t units = w.cols / 128;
    __m512 a[NT];  // local, so the sums stay in registers
    __m128 o[NT];
    for (int i = 0; i < NT; ++i) {
      a[i] = _mm512_setzero_ps();
      o[i] = _mm_setzero_ps();
    }
    for (std::int64_t u = 0; u < units; ++u) {
      const std::uint8_t* at = codes + static_cast<std::size_t>(u) * kCodeBytes;
      if (ahead) prefetch_lines(at, ahead, kCodeBytes);
      const Unit<Bits, Group, Aux, false> unit(at, scales, biases, u * kGroups, 4);
      for (int i = 0; i < NT; ++i) unit.accumulate(a[i], o[i], tk.q[i] + u * 128, tk.d[i] + u * 4, tk.dsum32[i] + u * 4);
    }
    if (const int rest = static_cast<int>(w.cols % 128 / 32); rest > 0) {  // rows whose length is not a multiple of 128
      const Unit<Bits, Group, Aux, true> unit(codes + static_cast<std::size_t>(units) * kCodeBytes, scales, biases,
                                              units * kGroups, rest);
      for (int i = 0; i < NT; ++i)
        unit.accumulate(a[i], o[i], tk.q[i] + units * 128, tk.d[i] + units * 4, tk.dsum32[i] + units * 4);
    }
    for (int i = 0; i < NT; ++i) {
      acc[i] = _mm512_add_ps(a[i], _mm512_zextps128_ps512(o[i]));
      tail[i] = 0.0f;
    }
  }
};

template <int Bits, int Group>
void rows_of_group(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
                   float* y, std::int64_t y_stride) {
  switch (w.aux_type) {
    case WeightType::BF16: for_rows<AffineRows<Bits, Group, WeightType::BF16>>(w, r0, r1, a, t0, t1, y, y_stride); return;
    case WeightType::F16: for_rows<AffineRows<Bits, Group, WeightType::F16>>(w, r0, r1, a, t0, t1, y, y_stride); return;
    default: for_rows<AffineRows<Bits, Group, WeightType::F32>>(w, r0, r1, a, t0, t1, y, y_stride); return;
  }
}

template <int Bits>
void rows_of_width(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
                   float* y, std::int64_t y_stride) {
  switch (w.group_size) {
    case 32: rows_of_group<Bits, 32>(w, r0, r1, a, t0, t1, y, y_stride); return;
    case 64: rows_of_group<Bits, 64>(w, r0, r1, a, t0, t1, y, y_stride); return;
    default: rows_of_group<Bits, 128>(w, r0, r1, a, t0, t1, y, y_stride); return;
  }
}

}  // namespace

void affine_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
                 float* y, std::int64_t y_stride) {
  switch (w.type) {
    case WeightType::Affine2: rows_of_width<2>(w, r0, r1, a, t0, t1, y, y_stride); return;
    case WeightType::Affine3: rows_of_width<3>(w, r0, r1, a, t0, t1, y, y_stride); return;
    case WeightType::Affine4: rows_of_width<4>(w, r0, r1, a, t0, t1, y, y_stride); return;
    case WeightType::Affine5: rows_of_width<5>(w, r0, r1, a, t0, t1, y, y_stride); return;
    case WeightType::Affine6: rows_of_width<6>(w, r0, r1, a, t0, t1, y, y_stride); return;
    default: rows_of_width<8>(w, r0, r1, a, t0, t1, y, y_stride); return;
  }
}

}  // namespace glmq::cpu
#endif
