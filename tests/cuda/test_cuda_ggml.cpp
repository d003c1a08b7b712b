// The GGML block types with CUDA kernels (Q8_0, Q4_K, Q6_K, IQ4_NL, IQ2_S) against the CPU reference: the
// fused matvec (whole-warp and 8-lane row groups), the dequantize+GEMM prefill path, embedding, and routed
// experts in the IQ2_S/IQ4_NL mix of the seed GGUF build; the exact float decode kernels within 2e-5 of the
// CPU, the default int8 decode path (Q8_0, IQ4_NL, IQ2_S; Q4_K and Q6_K stay float) within 1e-2 norm-wise
// (‖out − ref‖ / ‖ref‖) for one product and 3e-2 for the expert block. Skips without a CUDA device.
#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "cuda_test_util.h"

namespace glmq::test {
namespace {

const WeightType kGgmlTypes[] = {WeightType::Q8_0, WeightType::Q4_K, WeightType::Q6_K, WeightType::IQ4_NL,
                                 WeightType::IQ2_S};

// Byte offsets of a block's float16 scales (every other byte of a block is a valid code for these types).
std::vector<int> f16_fields(WeightType type) {
  switch (type) {
    case WeightType::Q4_K: return {0, 2};
    case WeightType::Q6_K: return {208};
    default: return {0};
  }
}

// Random blocks with small random scales: any code byte is valid, so random data covers every code path.
TestWeight make_ggml_weight(WeightType type, std::int64_t rows, std::int64_t cols, std::mt19937& rng) {
  TestWeight w;
  w.bytes.resize(weight_row_bytes(type, static_cast<std::size_t>(cols)) * static_cast<std::size_t>(rows));
  for (auto& b : w.bytes) b = static_cast<std::uint8_t>(rng());
  std::uniform_real_distribution<float> scale(0.002f, 0.02f);
  const std::size_t block = weight_block_bytes(type);
  for (std::size_t at = 0; at < w.bytes.size(); at += block)
    for (int off : f16_fields(type)) {
      const std::uint16_t h = f32_to_f16(scale(rng));
      std::memcpy(w.bytes.data() + at + off, &h, 2);
    }
  w.m = WeightMatrix{type, rows, cols, w.bytes.data()};
  return w;
}

class CudaGgml : public ::testing::Test {
 protected:
  void SetUp() override { GLMQ_REQUIRE_CUDA(); }
  CpuBackend cpu{1, CpuKernels::Reference};
  std::mt19937 rng{11};
};

CudaOptions exact_options() {
  CudaOptions o;
  o.exact_decode = true;
  return o;
}

void check_linear_types(CudaBackend& gpu, CpuBackend& cpu, std::mt19937& rng, bool exact) {
  double worst = 0;
  for (WeightType type : kGgmlTypes) {
    // 512 columns: 8-lane row groups for the 256-element types; 3072: whole-warp groups for every type.
    struct Shape { std::int64_t rows, cols; };
    for (const Shape s : {Shape{70, 512}, Shape{9, 256}, Shape{40, 3072}}) {
      TestWeight w = make_ggml_weight(type, s.rows, s.cols, rng);
      for (std::int64_t n : {1, 3, 20}) {
        auto x = random_vec(static_cast<std::size_t>(n * s.cols), rng);
        std::vector<float> want(static_cast<std::size_t>(n * s.rows));
        cpu.linear(w.m, x.data(), n, want.data());
        DeviceArray<float> dx(gpu, x), dy(gpu, want.size());
        gpu.linear(w.m, dx.data(), n, dy.data());
        const bool int8_path = !exact && n <= 8 && type != WeightType::Q4_K && type != WeightType::Q6_K;
        const double err = int8_path ? relative_norm_error(dy.get(), want) : relative_max_error(dy.get(), want);
        EXPECT_LE(err, int8_path ? 1e-2 : 2e-5)
            << weight_type_name(type) << " " << s.rows << "x" << s.cols << " n=" << n << (exact ? " exact" : "");
        if (int8_path) worst = std::max(worst, err);
      }
    }
  }
  if (!exact) std::printf("int8 decode path, GGML linear: worst relative error %.3g\n", worst);
}

TEST_F(CudaGgml, LinearFewAndManyTokens) {
  CudaBackend exact(exact_options());
  check_linear_types(exact, cpu, rng, true);
  CudaBackend int8;
  check_linear_types(int8, cpu, rng, false);
}

TEST_F(CudaGgml, EmbedMatchesCpu) {
  CudaBackend gpu;
  for (WeightType type : kGgmlTypes) {
    TestWeight table = make_ggml_weight(type, 20, 512, rng);
    std::vector<std::int32_t> tokens = {3, 19, 0, 3};
    DeviceArray<std::int32_t> dt(gpu, tokens);
    std::vector<float> want(4 * 512);
    DeviceArray<float> de(gpu, want.size());
    cpu.embed(table.m, tokens.data(), 4, want.data());
    gpu.embed(table.m, dt.data(), 4, de.data());
    EXPECT_LE(relative_max_error(de.get(), want), 1e-6) << "embed " << weight_type_name(type);
  }
}

TEST_F(CudaGgml, RoutedExpertsIq2sIq4nlMix) {
  for (const bool exact : {true, false}) {
  CudaBackend gpu(exact ? exact_options() : CudaOptions{});
  const std::int64_t hidden = 512, inter = 256, E = 6, top_k = 3;
  std::vector<TestWeight> store;
  std::vector<SwigluWeights> experts(E);
  store.reserve(3 * E);
  for (auto& e : experts) {
    store.push_back(make_ggml_weight(WeightType::IQ2_S, inter, hidden, rng));
    e.gate = store.back().m;
    store.push_back(make_ggml_weight(WeightType::IQ2_S, inter, hidden, rng));
    e.up = store.back().m;
    store.push_back(make_ggml_weight(WeightType::IQ4_NL, hidden, inter, rng));
    e.down = store.back().m;
  }
  const std::int64_t n = 2;
  auto x = random_vec(static_cast<std::size_t>(n * hidden), rng);
  std::vector<std::int32_t> ids = {4, 0, 2, 5, 4, 1};
  std::vector<float> rw = {0.5f, 0.3f, 0.2f, 0.6f, 0.25f, 0.15f};
  std::vector<float> want(static_cast<std::size_t>(n * hidden), 0.25f);
  MoeExpertsArgs ea;
  ea.n_tokens = n;
  ea.top_k = top_k;
  ea.x = x.data();
  ea.experts = ids.data();
  ea.weights = rw.data();
  ea.expert_weights = experts.data();
  ea.n_experts = E;
  DeviceArray<float> dx(gpu, x), dout(gpu, want);
  DeviceArray<std::int32_t> dids(gpu, ids);
  DeviceArray<float> drw(gpu, rw);
  ea.out = want.data();
  cpu.moe_experts(ea);
  MoeExpertsArgs g = ea;
  g.x = dx.data();
  g.experts = dids.data();
  g.weights = drw.data();
  g.out = dout.data();
  gpu.moe_experts(g);
  const double err = exact ? relative_max_error(dout.get(), want) : relative_norm_error(dout.get(), want);
  EXPECT_LE(err, exact ? 2e-5 : 3e-2) << (exact ? "exact" : "int8");
  std::printf("IQ2_S/IQ4_NL routed experts, %s decode path: relative error %.3g\n", exact ? "exact" : "int8", err);
  }
}

}  // namespace
}  // namespace glmq::test
