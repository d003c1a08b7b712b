#include "backend/cpu/kv_rows_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "backend/cpu/cpu_backend.h"
#include "core/float_convert.h"

namespace glmq::cpu {

const float* kv_row(const KvRows& rows, std::int64_t r, float* scratch) {
  const std::uint8_t* p = rows.row(r);
  const std::int64_t w = rows.width;
  switch (rows.format) {
    case KvFormat::F32: return reinterpret_cast<const float*>(p);
    case KvFormat::F16: {
      const auto* h = reinterpret_cast<const std::uint16_t*>(p);
      std::int64_t i = 0;
#if defined(__AVX512F__)
      // vcvtph2ps is exact (every f16 is a float32), the same values f16_to_f32 gives.
      for (; i + 16 <= w; i += 16)
        _mm512_storeu_ps(scratch + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + i))));
#endif
      for (; i < w; ++i) scratch[i] = f16_to_f32(h[i]);
      return scratch;
    }
    case KvFormat::Q8:
    case KvFormat::Q4: {
      const std::uint16_t* sc = rows.scales + r * rows.groups();
      const std::uint16_t* bi = rows.biases + r * rows.groups();
      for (std::int64_t g = 0; g < rows.groups(); ++g) {
        const float s = f16_to_f32(sc[g]), b = f16_to_f32(bi[g]);
        float* o = scratch + g * rows.group_size;
        if (rows.format == KvFormat::Q8) {
          const std::uint8_t* q = p + g * rows.group_size;
          for (std::int64_t i = 0; i < rows.group_size; ++i) o[i] = s * static_cast<float>(q[i]) + b;
        } else {
          const std::uint8_t* q = p + g * rows.group_size / 2;
          for (std::int64_t i = 0; i < rows.group_size / 2; ++i) {
            o[2 * i] = s * static_cast<float>(q[i] & 0xfu) + b;
            o[2 * i + 1] = s * static_cast<float>(q[i] >> 4) + b;
          }
        }
      }
      return scratch;
    }
  }
  return scratch;
}

void store_kv_row(const KvRows& rows, std::int64_t r, const float* v) {
  std::uint8_t* p = rows.row(r);
  const std::int64_t w = rows.width;
  switch (rows.format) {
    case KvFormat::F32: std::memcpy(p, v, static_cast<std::size_t>(w) * sizeof(float)); return;
    case KvFormat::F16: {
      auto* h = reinterpret_cast<std::uint16_t*>(p);
      for (std::int64_t i = 0; i < w; ++i) h[i] = f32_to_f16(v[i]);
      return;
    }
    case KvFormat::Q8:
    case KvFormat::Q4: {
      const int levels = rows.format == KvFormat::Q8 ? 255 : 15;
      for (std::int64_t g = 0; g < rows.groups(); ++g) {
        const float* x = v + g * rows.group_size;
        const auto [lo, hi] = std::minmax_element(x, x + rows.group_size);
        // Min/max affine per group; codes use the float16-rounded scale and bias they will be decoded with.
        const std::uint16_t bias_h = f32_to_f16(*lo);
        const float bias = f16_to_f32(bias_h);
        const std::uint16_t scale_h = f32_to_f16(std::max((*hi - bias) / static_cast<float>(levels), 1e-7f));
        const float scale = f16_to_f32(scale_h);
        rows.scales[r * rows.groups() + g] = scale_h;
        rows.biases[r * rows.groups() + g] = bias_h;
        auto code = [&](float value) {
          return static_cast<std::uint8_t>(std::clamp(std::nearbyint((value - bias) / scale), 0.0f, static_cast<float>(levels)));
        };
        if (rows.format == KvFormat::Q8) {
          std::uint8_t* q = p + g * rows.group_size;
          for (std::int64_t i = 0; i < rows.group_size; ++i) q[i] = code(x[i]);
        } else {
          std::uint8_t* q = p + g * rows.group_size / 2;
          for (std::int64_t i = 0; i < rows.group_size / 2; ++i)
            q[i] = static_cast<std::uint8_t>(code(x[2 * i]) | (code(x[2 * i + 1]) << 4));
        }
      }
      return;
    }
  }
}

}  // namespace glmq::cpu

namespace glmq {

void CpuBackend::store_kv_rows(const KvRows& dst, std::int64_t first, const float* src, std::int64_t src_stride, std::int64_t n) {
  for (std::int64_t r = 0; r < n; ++r) cpu::store_kv_row(dst, first + r, src + r * src_stride);
}

void CpuBackend::store_kv_rows_at(const KvRows& dst, const std::int32_t* rows, const float* src, std::int64_t src_stride,
                                  std::int64_t n) {
  for (std::int64_t r = 0; r < n; ++r) cpu::store_kv_row(dst, rows[r], src + r * src_stride);
}

void CpuBackend::load_kv_rows(const KvRows& src, std::int64_t first, std::int64_t n, float* dst) {
  for (std::int64_t r = 0; r < n; ++r) {
    float* out = dst + r * src.width;
    const float* row = cpu::kv_row(src, first + r, out);
    if (row != out) std::memcpy(out, row, static_cast<std::size_t>(src.width) * sizeof(float));
  }
}

}  // namespace glmq
