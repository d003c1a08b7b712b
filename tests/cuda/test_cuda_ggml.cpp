// The GGML block types (Q8_0, Q4_0, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, IQ2_XXS, IQ2_S,
// IQ3_S) against the CPU reference: the fused matvec (whole-warp and 8-lane row groups), the dequantize+GEMM
// prefill path (float32 and bf16 tiles), embedding, and routed experts in type mixes (the IQ2_S/IQ4_NL mix of the
// seed GGUF build, and mixes of the other types; at top-8, IQ2_S and MLX affine3 experts). The exact float decode kernels stay within 2e-5 of the CPU, the
// default int8 decode path (every type but Q2_K, which stays float) within 1e-2 norm-wise
// (‖out − ref‖ / ‖ref‖) for one product and 3e-2 for the expert block. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <utility>

#include "backend/cpu/cpu_backend.h"
#include "cuda_test_util.h"

namespace glmq::test {
namespace {

const WeightType kGgmlTypes[] = {WeightType::Q8_0,  WeightType::Q4_0,   WeightType::Q5_0,    WeightType::Q5_1,
                                 WeightType::Q2_K,  WeightType::Q3_K,   WeightType::Q4_K,    WeightType::Q5_K,
                                 WeightType::Q6_K,  WeightType::IQ4_NL, WeightType::IQ4_XS,  WeightType::IQ2_XXS,
                                 WeightType::IQ2_S, WeightType::IQ3_S};

// Whether the default decode path runs `type` through an int8 kernel (the others keep the float kernels).
bool has_int8_decode(WeightType type) { return type != WeightType::Q2_K; }

// Byte offsets of a block's float16 scales (every other byte of a block is a valid code for these types).
std::vector<int> f16_fields(WeightType type) {
  switch (type) {
    case WeightType::Q5_1:
    case WeightType::Q4_K:
    case WeightType::Q5_K: return {0, 2};
    case WeightType::Q2_K: return {80, 82};
    case WeightType::Q3_K: return {108};
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

void check_linear_types(CudaBackend& gpu, CpuBackend& cpu, std::mt19937& rng, bool exact) {
  for (WeightType type : kGgmlTypes) {
    double worst_decode = 0, worst_many = 0;
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
        const bool int8_path = !exact && n <= 8 && has_int8_decode(type);
        const double err = int8_path ? relative_norm_error(dy.get(), want) : relative_max_error(dy.get(), want);
        EXPECT_LE(err, int8_path ? 1e-2 : 2e-5)
            << weight_type_name(type) << " " << s.rows << "x" << s.cols << " n=" << n << (exact ? " exact" : "");
        double& worst = n <= 8 ? worst_decode : worst_many;
        worst = std::max(worst, err);
      }
    }
    std::printf("%-8s linear, %s: decode (n <= 8, %s) %.3g, 20 tokens (dequantize + GEMM, max) %.3g\n",
                std::string(weight_type_name(type)).c_str(), exact ? "exact" : "default",
                !exact && has_int8_decode(type) ? "int8, norm" : "float, max", worst_decode, worst_many);
  }
}

TEST_F(CudaGgml, LinearFewAndManyTokens) {
  CudaBackend exact(exact_options());
  check_linear_types(exact, cpu, rng, true);
  CudaBackend int8;
  check_linear_types(int8, cpu, rng, false);
}

// Prefill through bf16 tiles (CudaOptions::bf16_prefill): the element decode into bf16, then tensor-core GEMM;
// within bf16 rounding of the weights and activations.
TEST_F(CudaGgml, Bf16PrefillTiles) {
  CudaOptions options;
  options.bf16_prefill = true;
  CudaBackend gpu(options);
  for (WeightType type : kGgmlTypes) {
    TestWeight w = make_ggml_weight(type, 96, 512, rng);
    const std::int64_t n = 40;
    auto x = random_vec(static_cast<std::size_t>(n * 512), rng);
    std::vector<float> want(static_cast<std::size_t>(n * 96));
    cpu.linear(w.m, x.data(), n, want.data());
    DeviceArray<float> dx(gpu, x), dy(gpu, want.size());
    gpu.linear(w.m, dx.data(), n, dy.data());
    EXPECT_LE(relative_max_error(dy.get(), want), 2e-2) << weight_type_name(type) << " bf16 prefill";
  }
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

// Routed experts with gate/up in one type and down in another (GGML types, or MLX affine ones), through the exact
// and the default decode paths; top_k 8 (GLM-5.2's) fills the int8 down kernel's 8 slots per token.
void check_routed_experts(CpuBackend& cpu, std::mt19937& rng, WeightType gate_up_type, WeightType down_type,
                          std::int64_t top_k = 3) {
  for (const bool exact : {true, false}) {
  CudaBackend gpu(exact ? exact_options() : CudaOptions{});
  const std::int64_t hidden = 512, inter = 256, E = top_k + 3;
  const TestExperts moe = make_experts(E, gate_up_type, down_type, inter, hidden, [&](WeightType type, std::int64_t rows, std::int64_t cols) {
    return is_affine(type) ? make_weight(type, rows, cols, rng) : make_ggml_weight(type, rows, cols, rng);
  });
  const std::vector<SwigluWeights>& experts = moe.experts;
  const std::int64_t n = 2;
  auto x = random_vec(static_cast<std::size_t>(n * hidden), rng);
  // Token t takes experts (t·2 + 5k) mod E, k < top_k (distinct: E = top_k + 3 is prime to 5 here), with
  // weights that differ per slot.
  std::vector<std::int32_t> ids;
  std::vector<float> rw;
  for (std::int64_t t = 0; t < 2; ++t)
    for (std::int64_t k = 0; k < top_k; ++k) {
      ids.push_back(static_cast<std::int32_t>((t * 2 + 5 * k) % E));
      rw.push_back(0.6f - 0.05f * static_cast<float>(k) + 0.01f * static_cast<float>(t));
    }
  std::vector<float> want(static_cast<std::size_t>(n * hidden), 0.25f);
  DeviceArray<float> dx(gpu, x), dout(gpu, want);
  DeviceArray<std::int32_t> dids(gpu, ids);
  DeviceArray<float> drw(gpu, rw);
  const MoeExpertsArgs ea = moe_experts_args(n, top_k, x.data(), ids.data(), rw.data(), experts.data(), E, want.data());
  cpu.moe_experts(ea);
  gpu.moe_experts(on_device(ea, dx.data(), dids.data(), drw.data(), dout.data()));
  // The default path is int8 only when all three matrices have int8 units; otherwise the float kernels run.
  const bool int8 = !exact && has_int8_decode(gate_up_type) && has_int8_decode(down_type);
  const double err = int8 ? relative_norm_error(dout.get(), want) : relative_max_error(dout.get(), want);
  EXPECT_LE(err, int8 ? 3e-2 : 2e-5) << weight_type_name(gate_up_type) << "/" << weight_type_name(down_type) << " "
                                     << (exact ? "exact" : "default");
  std::printf("%s/%s routed experts, %s decode path: relative error %.3g\n",
              std::string(weight_type_name(gate_up_type)).c_str(), std::string(weight_type_name(down_type)).c_str(),
              exact ? "exact" : int8 ? "int8" : "default (float)", err);
  }
}

TEST_F(CudaGgml, RoutedExpertsIq2sIq4nlMix) { check_routed_experts(cpu, rng, WeightType::IQ2_S, WeightType::IQ4_NL); }

// Eight slots per token with down projections in the types whose int8 kernels run at their own register budgets
// (swiglu_q8.cu): IQ2_S, and affine3 (the mixed-3.5 recipe's experts).
TEST_F(CudaGgml, RoutedExpertsTopEight) {
  check_routed_experts(cpu, rng, WeightType::IQ2_S, WeightType::IQ2_S, 8);
  check_routed_experts(cpu, rng, WeightType::Affine3, WeightType::Affine3, 8);
}

// Mixes of the other types: Q5_K/Q5_0 and Q4_0/Q5_1 (the legacy and K-quant types of llama.cpp's Q4_K_M and
// Q5 files), IQ2_XXS/IQ4_XS and IQ3_S/Q3_K (low-bit i-quant mixes), Q2_K/Q5_K (gate/up without an int8 unit:
// the default path falls back to the float kernels).
TEST_F(CudaGgml, RoutedExpertsOtherTypeMixes) {
  const std::pair<WeightType, WeightType> mixes[] = {{WeightType::Q5_K, WeightType::Q5_0},
                                                      {WeightType::Q4_0, WeightType::Q5_1},
                                                      {WeightType::IQ2_XXS, WeightType::IQ4_XS},
                                                      {WeightType::IQ3_S, WeightType::Q3_K},
                                                      {WeightType::Q2_K, WeightType::Q5_K}};
  for (const auto& [gate_up, down] : mixes) check_routed_experts(cpu, rng, gate_up, down);
}

}  // namespace
}  // namespace glmq::test
