// The MoE block's CUDA ops against the CPU reference backend: SwiGLU (a shared expert), the router's top-k,
// the routed experts and the whole block (Backend::moe), on the exact float kernels and the int8 decode path,
// within the tolerances of cuda_test_util.h. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "cuda_test_util.h"

namespace glmq::test {
namespace {

// The SwiGLU of x's n rows on both backends: the GPU's into dout (from dx, x's device copy), the CPU's returned.
std::vector<float> swiglu_on_both(CpuBackend& cpu, Backend& gpu, const SwigluWeights& w, const std::vector<float>& x,
                                  DeviceArray<float>& dx, std::int64_t n, DeviceArray<float>& dout) {
  std::vector<float> want(static_cast<std::size_t>(n * w.down.rows));
  cpu.swiglu(w, x.data(), n, want.data());
  gpu.swiglu(w, dx.data(), n, dout.data());
  return want;
}

// Routes on both backends: the CPU with ra's host buffers (its results stay there), the GPU reading `logits` and
// writing `experts` and `weights`; the experts equal, the weights within 1e-6.
void expect_route_equal(CpuBackend& cpu, CudaBackend& gpu, const MoeRouteArgs& ra, DeviceArray<float>& logits,
                        DeviceArray<std::int32_t>& experts, DeviceArray<float>& weights, const std::string& what) {
  cpu.moe_route(ra);
  MoeRouteArgs ga = ra;
  ga.logits = logits.data();
  ga.experts = experts.data();
  ga.weights = weights.data();
  gpu.moe_route(ga);
  const std::size_t count = static_cast<std::size_t>(ra.n_tokens * ra.top_k);
  EXPECT_EQ(experts.get(), std::vector<std::int32_t>(ra.experts, ra.experts + count)) << what << " experts";
  EXPECT_LE(relative_max_error(weights.get(), std::vector<float>(ra.weights, ra.weights + count)), 1e-6)
      << what << " weights";
}

void swiglu_route_and_experts(CudaBackend& gpu, CpuBackend& cpu, std::mt19937& rng, double tol, const char* path) {
  const std::int64_t hidden = 256, inter = 128, E = 16, top_k = 4;
  // Mixed types as quantization recipes produce them: gate/up in one type, down in another.
  const TestExperts moe = make_experts(E, WeightType::Affine3, WeightType::Affine4, inter, hidden, rng);
  const std::vector<SwigluWeights>& experts = moe.experts;
  // One bias for both runs: the device caches it by host address, which a remade vector could reuse.
  const auto bias = random_vec(static_cast<std::size_t>(E), rng, 0.1f);
  for (std::int64_t n : {2, 40}) {
    auto x = random_vec(static_cast<std::size_t>(n * hidden), rng);
    DeviceArray<float> dx(gpu, x), dout(gpu, static_cast<std::size_t>(n * hidden));
    // Shared-expert style SwiGLU.
    std::vector<float> want = swiglu_on_both(cpu, gpu, experts[0], x, dx, n, dout);
    const bool int8 = tol > kExactTol && n <= 8;
    const double swiglu_err = int8 ? relative_norm_error(dout.get(), want) : relative_max_error(dout.get(), want);
    EXPECT_LE(swiglu_err, n > 8 ? kExactTol : tol) << path << " swiglu n=" << n;

    // Router: 4 groups, keep 2.
    auto logits = random_vec(static_cast<std::size_t>(n * E), rng);
    std::vector<std::int32_t> ids(static_cast<std::size_t>(n * top_k));
    std::vector<float> rw(ids.size());
    MoeRouteArgs ra;
    ra.n_tokens = n;
    ra.n_experts = E;
    ra.top_k = top_k;
    ra.n_group = 4;
    ra.topk_group = 2;
    ra.routed_scaling_factor = 2.5f;
    ra.logits = logits.data();
    ra.correction_bias = bias.data();
    ra.experts = ids.data();
    ra.weights = rw.data();
    DeviceArray<float> dl(gpu, logits), drw(gpu, rw.size());
    DeviceArray<std::int32_t> dids(gpu, ids.size());
    expect_route_equal(cpu, gpu, ra, dl, dids, drw, "moe_route n=" + std::to_string(n));

    // Routed experts accumulate into the output.
    const MoeExpertsArgs ea = moe_experts_args(n, top_k, x.data(), ids.data(), rw.data(), experts.data(), E, want.data());
    cpu.moe_experts(ea);
    gpu.moe_experts(on_device(ea, dx.data(), dids.data(), drw.data(), dout.data()));
    // Many tokens go per expert through swiglu on that expert's few rows, so on the int8 backend the
    // experts with at most 8 rows take the int8 kernels even at n = 40.
    const bool moe_int8 = tol > kExactTol;
    const double moe_err = moe_int8 ? relative_norm_error(dout.get(), want) : relative_max_error(dout.get(), want);
    EXPECT_LE(moe_err, tol) << path << " moe_experts n=" << n;

    // The whole block (Backend::moe; CUDA orders the routed gate+up beside the shared expert at decode sizes):
    // out = shared(x) + routed experts, from the router's own logits.
    const TestWeight router = make_weight(WeightType::BF16, E, hidden, rng);
    MoeArgs ma;
    ma.router = &router.m;
    std::vector<float> logits2(static_cast<std::size_t>(n * E));
    ma.logits = logits2.data();
    ma.route = ra;
    ma.shared = &experts[1];
    ma.experts = ea;
    std::vector<float> block(want.size(), 0.0f);
    std::vector<std::int32_t> block_ids(ids.size());
    std::vector<float> block_w(rw.size());
    ma.route.experts = block_ids.data();
    ma.experts.experts = block_ids.data();
    ma.route.weights = block_w.data();
    ma.experts.weights = block_w.data();
    ma.experts.out = block.data();
    cpu.moe(ma);
    DeviceArray<float> dlogits(gpu, logits2.size()), dblock_w(gpu, block_w.size()), dblock(gpu, block.size());
    DeviceArray<std::int32_t> dblock_ids(gpu, block_ids.size());
    MoeArgs gma = ma;
    gma.logits = dlogits.data();
    gma.route.experts = dblock_ids.data();
    gma.experts.experts = dblock_ids.data();
    gma.route.weights = dblock_w.data();
    gma.experts.weights = dblock_w.data();
    gma.experts.x = dx.data();
    gma.experts.out = dblock.data();
    gpu.moe(gma);
    EXPECT_EQ(dblock_ids.get(), block_ids) << path << " moe experts n=" << n;
    const double block_err = moe_int8 ? relative_norm_error(dblock.get(), block) : relative_max_error(dblock.get(), block);
    EXPECT_LE(block_err, tol) << path << " moe n=" << n;
    std::printf("%s n=%lld: swiglu %.3g, moe_experts %.3g, moe %.3g relative error\n", path, static_cast<long long>(n),
                swiglu_err, moe_err, block_err);
  }
}

TEST_F(CudaOps, SwigluRouteAndExperts) {
  CudaBackend exact(exact_options());
  swiglu_route_and_experts(exact, cpu, rng, kExactTol, "exact");
  CudaBackend int8;
  swiglu_route_and_experts(int8, cpu, rng, kInt8ComposedTol, "int8");
}

// The int8 down projection takes 8 rows per block (lanes in groups of 16) where those blocks fill the device,
// else 4 (groups of 32, the small shapes above): the wide shape, for a shared expert (one slot) and for routed
// slots, on 4096 output rows, against the CPU.
TEST_F(CudaOps, SwigluDownOfManyRowsEqualsCpu) {
  CudaBackend gpu;
  const std::int64_t hidden = 4096, inter = 64, E = 6, top_k = 3;
  for (const WeightType down_type : {WeightType::Affine3, WeightType::Affine4}) {
    gpu.forget_weights();  // the device copies are cached by host address, which this type's weights may reuse
    const TestExperts moe = make_experts(E, WeightType::Affine4, down_type, inter, hidden, rng);
    const std::vector<SwigluWeights>& experts = moe.experts;
    const std::string type(weight_type_name(down_type));
    for (std::int64_t n : {1, 2}) {
      auto x = random_vec(static_cast<std::size_t>(n * hidden), rng);
      DeviceArray<float> dx(gpu, x), dout(gpu, static_cast<std::size_t>(n * hidden));
      std::vector<float> want = swiglu_on_both(cpu, gpu, experts[0], x, dx, n, dout);
      EXPECT_LE(relative_norm_error(dout.get(), want), kInt8ComposedTol) << type << " swiglu n=" << n;

      std::vector<std::int32_t> ids(static_cast<std::size_t>(n * top_k));
      std::vector<float> rw(ids.size());
      for (std::size_t s = 0; s < ids.size(); ++s) {
        ids[s] = static_cast<std::int32_t>((s * 5 + 1) % E);  // distinct within a token (top_k < E, 5 coprime to 6)
        rw[s] = 0.25f + 0.125f * static_cast<float>(s % 4);
      }
      DeviceArray<std::int32_t> dids(gpu, ids);
      DeviceArray<float> drw(gpu, rw);
      // Adds onto the shared expert's output.
      const MoeExpertsArgs ea = moe_experts_args(n, top_k, x.data(), ids.data(), rw.data(), experts.data(), E, want.data());
      cpu.moe_experts(ea);
      gpu.moe_experts(on_device(ea, dx.data(), dids.data(), drw.data(), dout.data()));
      EXPECT_LE(relative_norm_error(dout.get(), want), kInt8ComposedTol) << type << " moe_experts n=" << n;
    }
  }
}

// The router's top-k without groups (GLM-5.2's n_group 1), at 256 experts and top-8 and at a width that is not
// a multiple of 32 with top-40 (more than a warp's lanes), with many exact ties: logits from 7 values and a
// bias of ±0, so choices tie across experts and the CPU's order (lower index first) must be reproduced.
TEST_F(CudaOps, MoeRouteTiesWithoutGroupsEqualCpu) {
  CudaBackend gpu;
  struct Case { std::int64_t experts, top_k; };
  for (const Case c : {Case{256, 8}, Case{100, 40}}) {
    const std::int64_t n = 3;
    std::vector<float> logits(static_cast<std::size_t>(n * c.experts)), bias(static_cast<std::size_t>(c.experts));
    std::uniform_int_distribution<int> level(-3, 3);
    for (float& v : logits) v = 0.5f * static_cast<float>(level(rng));
    for (std::size_t e = 0; e < bias.size(); ++e) bias[e] = e % 3 == 0 ? -0.0f : 0.0f;
    std::vector<std::int32_t> ids(static_cast<std::size_t>(n * c.top_k));
    std::vector<float> rw(ids.size());
    MoeRouteArgs ra;
    ra.n_tokens = n;
    ra.n_experts = c.experts;
    ra.top_k = c.top_k;
    ra.routed_scaling_factor = 2.5f;
    ra.logits = logits.data();
    ra.correction_bias = bias.data();
    ra.experts = ids.data();
    ra.weights = rw.data();
    gpu.forget_weights();  // the bias is cached by host address
    DeviceArray<float> dl(gpu, logits), drw(gpu, rw.size());
    DeviceArray<std::int32_t> dids(gpu, ids.size());
    expect_route_equal(cpu, gpu, ra, dl, dids, drw, std::to_string(c.experts) + " experts, top-" + std::to_string(c.top_k));
  }
}

}  // namespace
}  // namespace glmq::test
