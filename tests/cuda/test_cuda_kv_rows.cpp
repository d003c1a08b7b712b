// KV cache rows on the device: store_kv_rows must write the CPU backend's bytes (codes, float16 scales and
// biases) bit for bit, and load_kv_rows must decode them to the CPU's floats bit for bit, in every format.
#include <gtest/gtest.h>

#include <cstring>

#include "kv_rows_test_util.h"

namespace glmq::test {
namespace {

std::vector<std::uint32_t> bits(const std::vector<float>& v) {
  std::vector<std::uint32_t> b(v.size());
  std::memcpy(b.data(), v.data(), v.size() * sizeof(float));
  return b;
}

// Rows with the awkward cases a group can hold besides random values: all equal (the scale floors at 1e-7),
// −0 before +0 as the minimum (the bias's sign), a wide range, values halfway between two 4-bit codes
// (groups of 16 spanning 0..15: scale 1, round half to even), tiny values (float16 subnormal biases).
std::vector<float> test_rows(std::int64_t rows, std::int64_t width, std::mt19937& rng) {
  auto v = random_vec(static_cast<std::size_t>(rows * width), rng, 3.0f);
  auto row = [&](std::int64_t r) { return v.data() + r * width; };
  if (rows >= 6) {
    std::fill(row(0), row(0) + width, 0.75f);
    for (std::int64_t i = 0; i < width; ++i) row(1)[i] = i % 3 == 0 ? -0.0f : (i % 3 == 1 ? 0.0f : 1.0f);
    for (std::int64_t i = 0; i < width; ++i) row(2)[i] *= 1000.0f;
    for (std::int64_t i = 0; i < width; ++i) {
      const auto k = static_cast<float>(i % 16);
      row(3)[i] = k == 0.0f || k == 15.0f ? k : k - 0.5f;
    }
    for (std::int64_t i = 0; i < width; ++i) row(4)[i] *= 1e-6f;
    for (std::int64_t i = 0; i < width; ++i) row(5)[i] = static_cast<float>(i % 7) * (1.0f / 15.0f);
  }
  return v;
}

TEST(CudaKvRows, StoreAndLoadEqualCpuBitForBit) {
  GLMQ_REQUIRE_CUDA();
  CpuBackend cpu{1, CpuKernels::Reference};
  CudaBackend gpu;
  std::mt19937 rng{11};
  struct Shape { std::int64_t width, group; };
  // The model's latent (512, g64), rope key (64, g32) and indexer key (128, g128) shapes, and small groups.
  const Shape shapes[] = {{512, 64}, {64, 32}, {128, 128}, {24, 8}};
  const std::int64_t rows = 37, first = 5, n = 30, stride_pad = 3;
  for (KvFormat format : kAllKvFormats) {
    for (const Shape& s : shapes) {
      const std::string what = kv_format_name(format) + " width " + std::to_string(s.width);
      // Source rows src_stride apart, written to rows [first, first + n) of an already filled cache.
      const std::int64_t stride = s.width + stride_pad;
      auto src = test_rows(n, stride, rng);
      auto background = random_vec(static_cast<std::size_t>(rows * s.width), rng);
      SharedKvRows cache(cpu, gpu, format, s.width, s.group, background);
      DeviceArray<float> dsrc(gpu, src);
      cpu.store_kv_rows(cache.host.view, first, src.data(), stride, n);
      gpu.store_kv_rows(cache.device.view, first, dsrc.data(), stride, n);
      EXPECT_EQ(cache.device.data.get(), cache.host.data) << what << " codes";
      EXPECT_EQ(cache.device.scales.get(), cache.host.scales) << what << " scales";
      EXPECT_EQ(cache.device.biases.get(), cache.host.biases) << what << " biases";

      std::vector<float> want(static_cast<std::size_t>(rows * s.width));
      cpu.load_kv_rows(cache.host.view, 0, rows, want.data());
      DeviceArray<float> got(gpu, want.size());
      gpu.load_kv_rows(cache.device.view, 0, rows, got.data());
      EXPECT_EQ(bits(got.get()), bits(want)) << what << " loaded rows";
      // A load starting inside the cache.
      DeviceArray<float> part(gpu, static_cast<std::size_t>(n * s.width));
      gpu.load_kv_rows(cache.device.view, first, n, part.data());
      EXPECT_EQ(bits(part.get()), bits(std::vector<float>(want.begin() + first * s.width, want.begin() + (first + n) * s.width)))
          << what << " loaded from row " << first;
    }
  }
}

}  // namespace
}  // namespace glmq::test
