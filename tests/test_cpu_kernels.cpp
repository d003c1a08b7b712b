// The CPU backend's fast kernels against its reference path (CpuKernels::Reference), type by type and shape by shape,
// plus the pieces they stand on: int8 activation rounding and the work pool.
//
// Tolerances. The int8 kernels compute Σ_i w_i·d_b·q_i exactly (int32 per block, then float scales), where d_b·q_i
// is activation x_i rounded to its block's int8 grid: |d_b·q_i − x_i| ≤ d_b/2 = max|x in block|/254. So
// |fast − reference| ≤ Σ_b (max|x_b| / 254)·Σ_{i∈b} |w_i| (`rounding_bound`), plus float32 summation error, allowed
// as 1e-5·Σ|w_i·x_i|. MLX affine weights (w_i = scale·q_i + bias) are summed as scale·d_b·Σ q_i·q_x + bias·d_b·Σ q_x,
// which is the same Σ_i w_i·d_b·q_x,i: the same bound. The float kernels (F32/F16/BF16) differ from the reference
// only in summation order: 1e-5·Σ|w_i·x_i|. The bf16 kernels (BF16 under CpuKernels::FastBf16) round each activation to bf16,
// |bf16(x) − x| ≤ 2⁻⁸·|x| (8 significant bits), and multiply exactly: 2⁻⁸·Σ|w_i·x_i| more.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>

#include "backend/cpu/bf16_kernels.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/float_kernels.h"
#include "backend/cpu/latent_attention.h"
#include "backend/cpu/q8_activations.h"
#include "backend/cpu/q8_kernels.h"
#include "backend/cpu/row_kernels.h"
#include "backend/cpu/work_pool.h"
#include "core/float_convert.h"
#include "cpu_test_util.h"

namespace glmq {
namespace {

using test::make_weight;
using test::random_vec;
using test::TestWeight;

TEST(WorkPool, RunsEveryChunkExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    cpu::WorkPool pool(threads);
    for (std::int64_t chunks : {1, 2, 7, 1000, 70000}) {  // 70000: more than the pool's state word counts at once
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(chunks));
      for (int rep = 0; rep < 3; ++rep) pool.run(chunks, [&](std::int64_t c) { hits[static_cast<std::size_t>(c)]++; });
      for (std::int64_t c = 0; c < chunks; ++c) ASSERT_EQ(hits[static_cast<std::size_t>(c)].load(), 3) << threads << " " << chunks;
    }
  }
}

TEST(WorkPool, ManyShortJobsInARow) {
  cpu::WorkPool pool(2);
  std::int64_t total = 0;
  std::vector<std::int64_t> part(8);
  for (int job = 0; job < 20000; ++job) {
    pool.run(8, [&](std::int64_t c) { part[static_cast<std::size_t>(c)] = job + c; });
    for (std::int64_t c = 0; c < 8; ++c) total += part[static_cast<std::size_t>(c)] - job;
  }
  EXPECT_EQ(total, 20000 * 28);
}

// Stored position of natural element e in a row of `cols`, written from the Q8Order definitions.
std::int64_t expected_position(std::int64_t e, std::int64_t cols, cpu::Q8Order order) {
  const std::int64_t span = e / 128 * 128, w = e - span;
  if (order == cpu::Q8Order::Natural || span + 128 > cols) return e;
  if (order == cpu::Q8Order::NibbleGroups) return span + (w % 32 < 16 ? 0 : 64) + (w / 32) * 16 + w % 16;
  const std::int64_t quarter[4] = {0, 2, 1, 3};
  return span + quarter[w / 32] * 32 + w % 32;
}

TEST(Q8Activations, RoundingBoundSumsAndOrder) {
  std::mt19937 rng(3);
  for (const cpu::Q8Format f : {cpu::Q8Format{32, cpu::Q8Order::Natural}, cpu::Q8Format{32, cpu::Q8Order::NibbleGroups},
                                cpu::Q8Format{256, cpu::Q8Order::Natural}, cpu::Q8Format{256, cpu::Q8Order::NibbleGroups},
                                cpu::Q8Format{256, cpu::Q8Order::Q4K}}) {
    for (std::int64_t cols : {256, 512, 768}) {
      if (f.block == 32) cols += 96;  // a tail of three blocks after the last whole 128
      const std::int64_t n = 3, stride = cols + 5;
      auto x = random_vec(static_cast<std::size_t>(n * stride), rng);
      for (std::int64_t i = 0; i < f.block; ++i) x[static_cast<std::size_t>(stride + i)] = 0.0f;  // an all-zero block
      cpu::Q8Rows q;
      cpu::prepare_q8(n, cols, f, q);
      cpu::quantize_q8_rows(x.data(), stride, 0, n, q);
      for (std::int64_t t = 0; t < n; ++t)
        for (std::int64_t e = 0; e < cols; ++e) {
          const float d = q.row_d(t)[e / f.block];
          const int v = q.row_q(t)[expected_position(e, cols, f.order)];
          ASSERT_LE(std::fabs(d * static_cast<float>(v) - x[static_cast<std::size_t>(t * stride + e)]), d * 0.5001f + 1e-12f);
          if (e % 16 == 15) {
            int s = 0;
            for (std::int64_t j = e - 15; j <= e; ++j) s += q.row_q(t)[expected_position(j, cols, f.order)];
            ASSERT_EQ(q.row_sum16(t)[e / 16], s);
            if (e % 32 == 31) {
              ASSERT_EQ(q.row_sum32(t)[e / 32], q.row_sum16(t)[e / 16] + q.row_sum16(t)[e / 16 - 1]);
              ASSERT_EQ(q.row_dsum32(t)[e / 32], d * static_cast<float>(q.row_sum32(t)[e / 32]));
            }
          }
        }
    }
  }
}

// Σ_b (max|x_b| / 254)·Σ_{i∈b} |w_i| for row r, token t: how far int8 activation rounding can move the product.
double rounding_bound(const TestWeight& w, std::int64_t r, const float* x, int block) {
  double bound = 0;
  for (std::int64_t b = 0; b < w.m.cols; b += block) {
    double amax = 0, wsum = 0;
    for (std::int64_t i = b; i < b + block; ++i) {
      amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
      wsum += std::fabs(w.values[static_cast<std::size_t>(r * w.m.cols + i)]);
    }
    bound += amax / 254.0 * wsum;
  }
  return bound;
}

double abs_product(const TestWeight& w, std::int64_t r, const float* x) {
  double s = 0;
  for (std::int64_t c = 0; c < w.m.cols; ++c) s += std::fabs(w.values[static_cast<std::size_t>(r * w.m.cols + c)] * x[c]);
  return s;
}

struct Shape {
  std::int64_t rows, cols;
};

// How an affine test weight is grouped and stored (ignored for other types).
struct AffineLayout {
  std::int64_t group_size = 32;
  WeightType aux_type = WeightType::BF16;
};

void expect_fast_matches_reference(WeightType type, const std::vector<Shape>& shapes, int threads, std::mt19937& rng,
                                   CpuKernels kernels = CpuKernels::Fast, AffineLayout layout = {}) {
  CpuBackend fast(threads, kernels), ref(threads, CpuKernels::Reference);
  for (const Shape s : shapes)
    for (std::int64_t n : {1, 2, 3, 4, 5, 9, 70}) {
      TestWeight w = make_weight(type, s.rows, s.cols, rng, layout.group_size, layout.aux_type);
      const auto kernel = cpu::fast_kernel_for(w.m);
#ifdef GLMQ_CPU_INT8_KERNELS
      if (is_ggml_block(type) || is_affine(type)) {
        ASSERT_TRUE(kernel.has_value()) << weight_type_name(type);
      }
#endif
#ifdef GLMQ_CPU_FLOAT_KERNELS
      if (is_float_type(type)) {
        ASSERT_TRUE(cpu::has_float_kernel(w.m));
      }
#endif
#ifdef GLMQ_CPU_BF16_KERNELS
      if (type == WeightType::BF16) {
        ASSERT_TRUE(cpu::has_bf16_kernel(w.m));
      }
#endif
      const bool bf16_acts = kernels == CpuKernels::FastBf16 && cpu::has_bf16_kernel(w.m);
      auto x = random_vec(static_cast<std::size_t>(n * s.cols), rng);
      // Outliers make some blocks' int8 grids coarse, as real activations do.
      for (std::size_t i = 0; i < x.size(); i += 97) x[i] *= 20.0f;
      std::vector<float> yf(static_cast<std::size_t>(n * s.rows)), yr(yf.size());
      fast.linear(w.m, x.data(), n, yf.data());
      ref.linear(w.m, x.data(), n, yr.data());
      for (std::int64_t t = 0; t < n; ++t)
        for (std::int64_t r = 0; r < s.rows; ++r) {
          const float* xt = x.data() + t * s.cols;
          const double tol = (kernel ? rounding_bound(w, r, xt, kernel->format.block) : 0.0) +
                             ((bf16_acts ? 0x1p-8 : 0.0) + 1e-5) * abs_product(w, r, xt);
          const auto i = static_cast<std::size_t>(t * s.rows + r);
          ASSERT_NEAR(yf[i], yr[i], tol) << weight_type_name(type) << " rows " << s.rows << " cols " << s.cols << " n " << n
                                         << " group " << layout.group_size << " aux " << weight_type_name(layout.aux_type)
                                         << " row " << r << " token " << t << " threads " << threads;
        }
    }
}

class FastKernels : public ::testing::TestWithParam<int> {
 protected:
  std::mt19937 rng{5};
};

TEST_P(FastKernels, Int8Blocks32MatchReference) {
  // Lengths with and without a tail after the last four blocks, down to a single block; odd row counts.
  const std::vector<Shape> shapes = {{1, 32}, {3, 64}, {5, 96}, {70, 160}, {33, 512}, {17, 544}};
  for (WeightType type : {WeightType::Q8_0, WeightType::IQ4_NL, WeightType::Q4_0, WeightType::Q5_0, WeightType::Q5_1})
    expect_fast_matches_reference(type, shapes, GetParam(), rng);
}

// Q8_0 codes span −128..127 in the format; llama-quantize writes only ±127, but other writers (and error-feedback
// rounding) may use −128, whose magnitude does not fit a signed byte: the kernel's |w|·(sign(w)·x) must still hold.
TEST_P(FastKernels, Q8_0WithMinus128CodesMatchesReference) {
  CpuBackend fast(GetParam(), CpuKernels::Fast), ref(GetParam(), CpuKernels::Reference);
  TestWeight w = make_weight(WeightType::Q8_0, 9, 160, rng);
  for (std::size_t b = 0; b < w.bytes.size(); b += 34)
    for (std::size_t k = 0; k < 32; k += 5) w.bytes[b + 2 + k] = 0x80;
  for (std::int64_t r = 0; r < w.m.rows; ++r) cpu::row_to_f32(w.m, r, w.values.data() + r * w.m.cols);
  for (std::int64_t n : {1, 3, 9}) {
    auto x = random_vec(static_cast<std::size_t>(n * w.m.cols), rng);
    std::vector<float> yf(static_cast<std::size_t>(n * w.m.rows)), yr(yf.size());
    fast.linear(w.m, x.data(), n, yf.data());
    ref.linear(w.m, x.data(), n, yr.data());
    for (std::int64_t t = 0; t < n; ++t)
      for (std::int64_t r = 0; r < w.m.rows; ++r) {
        const float* xt = x.data() + t * w.m.cols;
        const double tol = rounding_bound(w, r, xt, 32) + 1e-5 * abs_product(w, r, xt);
        const auto i = static_cast<std::size_t>(t * w.m.rows + r);
        ASSERT_NEAR(yf[i], yr[i], tol) << "row " << r << " token " << t;
      }
  }
}

TEST_P(FastKernels, Int8Blocks256MatchReference) {
  const std::vector<Shape> shapes = {{1, 256}, {3, 512}, {70, 768}, {9, 1280}};
  for (WeightType type : {WeightType::Q2_K, WeightType::Q3_K, WeightType::Q4_K, WeightType::Q5_K, WeightType::Q6_K,
                          WeightType::IQ4_XS, WeightType::IQ2_XXS, WeightType::IQ2_S, WeightType::IQ3_S})
    expect_fast_matches_reference(type, shapes, GetParam(), rng);
}

TEST_P(FastKernels, FloatTypesMatchReference) {
  const std::vector<Shape> shapes = {{1, 16}, {3, 33}, {5, 64}, {70, 320}, {9, 520}};
  for (CpuKernels kernels : {CpuKernels::Fast, CpuKernels::FastBf16})
    for (WeightType type : {WeightType::F32, WeightType::F16, WeightType::BF16})
      expect_fast_matches_reference(type, shapes, GetParam(), rng, kernels);
}

// Every MLX affine width × group size (in builds without the int8 kernels: the reference fallback, within 1e-5). Per
// group size, lengths with and without a tail after the last 128 elements (one, two or three 32-element activation
// blocks), down to a single group; odd row counts. Scales and biases in bf16 (MLX's usual), f16 and f32.
TEST_P(FastKernels, AffineMatchReference) {
  const std::vector<Shape> by_group[3] = {{{1, 32}, {3, 96}, {5, 160}, {33, 224}, {17, 512}},
                                          {{1, 64}, {3, 192}, {7, 320}, {33, 512}},
                                          {{1, 128}, {5, 384}, {33, 640}}};
  const std::int64_t groups[3] = {32, 64, 128};
  for (WeightType type : {WeightType::Affine2, WeightType::Affine3, WeightType::Affine4, WeightType::Affine5,
                          WeightType::Affine6, WeightType::Affine8})
    for (int g = 0; g < 3; ++g)
      for (WeightType aux : {WeightType::BF16, WeightType::F16, WeightType::F32}) {
        if (aux != WeightType::BF16 && groups[g] != 64) continue;  // the aux types once per width
        expect_fast_matches_reference(type, by_group[g], GetParam(), rng, CpuKernels::Fast, {groups[g], aux});
      }
}

// The same values stored as BF16 and as F32 give bit-identical products (the GGUF converter widens some bf16
// tensors to F32; glmq must compute the same logits from either). Not under CpuKernels::FastBf16, which rounds the
// activations of BF16 products only.
TEST_P(FastKernels, Bf16AndWidenedF32AreBitIdentical) {
  CpuBackend be(GetParam(), CpuKernels::Fast);
  for (std::int64_t cols : {64, 512, 520})
    for (std::int64_t n : {1, 4, 7}) {
      TestWeight b = make_weight(WeightType::BF16, 37, cols, rng);
      std::vector<float> widened = b.values;
      const WeightMatrix f{WeightType::F32, 37, cols, reinterpret_cast<const std::uint8_t*>(widened.data())};
      auto x = random_vec(static_cast<std::size_t>(n * cols), rng);
      std::vector<float> yb(static_cast<std::size_t>(n * 37)), yf(yb.size());
      be.linear(b.m, x.data(), n, yb.data());
      be.linear(f, x.data(), n, yf.data());
      EXPECT_EQ(yb, yf) << "cols " << cols << " n " << n;
    }
}

// max |fast − reference| over a whole op's output, relative to the reference output's largest magnitude.
double relative_max_diff(const std::vector<float>& fast, const std::vector<float>& ref) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(fast[i]) - ref[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(ref[i])));
  }
  return diff / scale;
}

// Ops built from several int8 products (SwiGLU: gate and up, silu, down) compound the per-product rounding (see the
// header); the down projection's input silu(g)·u is heavy-tailed, so its blocks round coarsely. Measured on these
// random weights: ≤ 1.9 % of the output's largest magnitude (Q4_K, one activation scale per 256), ≤ 1.2 % (IQ4_NL,
// per 32), ≤ 2.6 % (IQ2_XXS, IQ3_S), ≤ 4.0 % (Q2_K, Q3_K: their random mins and −4 offsets give a row's weights a
// common shift, which sums the activations' rounding errors); allowed 5 %.
constexpr double kOpTolerance = 0.05;
// BF16 weights on the fast path: activations rounded to bf16 (2⁻⁸ relative per value) before each product.
// Measured on these weights: ≤ 0.36 % of the output's largest magnitude (SwiGLU, MoE), ≤ 0.29 % (attention); allowed 1 %.
constexpr double kBf16OpTolerance = 0.01;

TEST_P(FastKernels, SwigluAndMoeExpertsMatchReference) {
  CpuBackend fast(GetParam(), CpuKernels::Fast), fast_bf16(GetParam(), CpuKernels::FastBf16), ref(GetParam(), CpuKernels::Reference);
  const std::int64_t hidden = 512, inter = 256, n_experts = 6, top_k = 2;
  for (WeightType type : {WeightType::Q4_K, WeightType::IQ4_NL, WeightType::Q2_K, WeightType::Q3_K, WeightType::Q5_K,
                          WeightType::IQ2_XXS, WeightType::IQ3_S, WeightType::Affine3, WeightType::Affine4, WeightType::BF16})
    for (CpuBackend* be : {&fast, &fast_bf16}) {
    if (be == &fast_bf16 && type != WeightType::BF16) continue;  // the same int8 path as `fast`
    std::vector<TestWeight> store;
    std::vector<SwigluWeights> experts;
    for (std::int64_t e = 0; e < n_experts; ++e) {
      store.push_back(make_weight(type, inter, hidden, rng));
      store.push_back(make_weight(type, inter, hidden, rng));
      store.push_back(make_weight(type, hidden, inter, rng));
    }
    for (std::int64_t e = 0; e < n_experts; ++e)
      experts.push_back({store[3 * e].m, store[3 * e + 1].m, store[3 * e + 2].m});
    // 1 and 3 tokens take the two-job few-token path, 40 tokens one product per expert and projection.
    for (std::int64_t n : {1, 3, 40}) {
      auto x = random_vec(static_cast<std::size_t>(n * hidden), rng);
      std::vector<float> yf(x.size()), yr(x.size());
      be->swiglu(experts[0], x.data(), n, yf.data());
      ref.swiglu(experts[0], x.data(), n, yr.data());
      const double tol = type != WeightType::BF16 ? kOpTolerance : be == &fast_bf16 ? kBf16OpTolerance : 1e-5;
      EXPECT_LE(relative_max_diff(yf, yr), tol) << "swiglu " << weight_type_name(type) << " n " << n << " bf16 acts " << (be == &fast_bf16);

      std::vector<std::int32_t> ids(static_cast<std::size_t>(n * top_k));
      std::vector<float> weights(ids.size());
      for (std::size_t i = 0; i < ids.size(); ++i) {
        ids[i] = static_cast<std::int32_t>((i * 7 + i / 2) % n_experts);
        weights[i] = 0.3f + 0.1f * static_cast<float>(i % 3);
      }
      MoeExpertsArgs args;
      args.n_tokens = n;
      args.top_k = top_k;
      args.x = x.data();
      args.experts = ids.data();
      args.weights = weights.data();
      args.expert_weights = experts.data();
      args.n_experts = n_experts;
      std::vector<float> of(x.size(), 0.5f), orf(x.size(), 0.5f);  // accumulated into
      args.out = of.data();
      be->moe_experts(args);
      args.out = orf.data();
      ref.moe_experts(args);
      EXPECT_LE(relative_max_diff(of, orf), tol) << "moe " << weight_type_name(type) << " n " << n << " bf16 acts " << (be == &fast_bf16);
    }
  }
}

// Backend::linears runs the products that share one preparation of x as one job: each result must be exactly what
// linear() gives for that matrix alone. The group mixes matrices of one int8 kernel (of different heights, one of
// fewer rows than a chunk), one of another kernel and a BF16 one (run on their own), for decoding and prefill sizes.
TEST_P(FastKernels, LinearsMatchLinear) {
  for (CpuKernels kernels : {CpuKernels::Fast, CpuKernels::Reference}) {
    CpuBackend be(GetParam(), kernels);
    const std::int64_t cols = 256;
    std::vector<TestWeight> w;
    w.push_back(make_weight(WeightType::Q8_0, 96, cols, rng));
    w.push_back(make_weight(WeightType::IQ4_NL, 40, cols, rng));
    w.push_back(make_weight(WeightType::Q8_0, 8, cols, rng));
    w.push_back(make_weight(WeightType::BF16, 24, cols, rng));
    w.push_back(make_weight(WeightType::Q8_0, 200, cols, rng));
    // MLX affine widths share one kernel, so one rounding of x, whatever their widths and group sizes.
    w.push_back(make_weight(WeightType::Affine4, 72, cols, rng, 64));
    w.push_back(make_weight(WeightType::Affine3, 8, cols, rng, 128));
    w.push_back(make_weight(WeightType::Affine6, 33, cols, rng, 32, WeightType::F16));
    for (std::int64_t n : {1, 3, 70}) {
      auto x = random_vec(static_cast<std::size_t>(n * cols), rng);
      std::vector<std::vector<float>> fused(w.size()), alone(w.size());
      std::vector<LinearTarget> targets;
      for (std::size_t i = 0; i < w.size(); ++i) {
        fused[i].assign(static_cast<std::size_t>(n * w[i].m.rows), -1.0f);
        alone[i].assign(fused[i].size(), -2.0f);
        targets.push_back({&w[i].m, fused[i].data()});
        be.linear(w[i].m, x.data(), n, alone[i].data());
      }
      be.linears(targets, x.data(), n);
      for (std::size_t i = 0; i < w.size(); ++i)
        EXPECT_EQ(fused[i], alone[i]) << "matrix " << i << " n " << n << (kernels == CpuKernels::Fast ? " fast" : " reference");
    }
  }
}

// latent_attention.h takes heads in groups through the rows but must sum exactly as the per-head loop it replaced
// (dot_f32_unrolled per score part, std::exp, axpy_f32 per row): compared bit for bit, for float32 and float16 rows,
// 1..5 heads, and widths with 64-, 16- and single-element tails.
TEST(LatentAttention, SumsAsThePerHeadLoop) {
  std::mt19937 rng(11);
  for (bool f16 : {false, true})
    for (auto [R, P] : {std::pair<std::int64_t, std::int64_t>{256, 32}, {100, 20}, {192, 64}})
      for (std::int64_t heads = 1; heads <= 5; ++heads) {
        const std::int64_t count = 7, qk = P + 3;
        auto lat = random_vec(static_cast<std::size_t>(count * R), rng), rp = random_vec(static_cast<std::size_t>(count * P), rng);
        std::vector<std::uint16_t> lat16(lat.size()), rp16(rp.size());
        if (f16) {  // the float16 rows, and the float values they hold
          for (std::size_t i = 0; i < lat.size(); ++i) lat[i] = f16_to_f32(lat16[i] = f32_to_f16(lat[i]));
          for (std::size_t i = 0; i < rp.size(); ++i) rp[i] = f16_to_f32(rp16[i] = f32_to_f16(rp[i]));
        }
        std::vector<const void*> ptrs(static_cast<std::size_t>(2 * count));
        for (std::int64_t j = 0; j < count; ++j) {
          ptrs[static_cast<std::size_t>(j)] = f16 ? static_cast<const void*>(lat16.data() + j * R) : lat.data() + j * R;
          ptrs[static_cast<std::size_t>(count + j)] = f16 ? static_cast<const void*>(rp16.data() + j * P) : rp.data() + j * P;
        }
        auto q_lat = random_vec(static_cast<std::size_t>(heads * R), rng), q = random_vec(static_cast<std::size_t>(heads * qk), rng);
        cpu::LatentRows rows{f16, ptrs.data(), ptrs.data() + count, count, R, P};
        cpu::LatentQueries queries{heads, q_lat.data(), R, q.data() + 3, qk, 0.07f};
        std::vector<float> scores(static_cast<std::size_t>(heads * count)), o(static_cast<std::size_t>(heads * R));
        cpu::attend_latent_rows(rows, queries, scores.data(), o.data(), R);
        for (std::int64_t h = 0; h < heads; ++h) {
          std::vector<float> s(static_cast<std::size_t>(count)), expected(static_cast<std::size_t>(R), 0.0f);
          float max_score = -INFINITY, sum = 0.0f;
          for (std::int64_t j = 0; j < count; ++j) {
            float v = cpu::dot_f32_unrolled(q_lat.data() + h * R, lat.data() + j * R, R) +
                      cpu::dot_f32_unrolled(q.data() + h * qk + 3, rp.data() + j * P, P);
            v *= 0.07f;
            s[static_cast<std::size_t>(j)] = v;
            max_score = std::max(max_score, v);
          }
          for (auto& v : s) {
            v = std::exp(v - max_score);
            sum += v;
          }
          for (std::int64_t j = 0; j < count; ++j) cpu::axpy_f32(s[static_cast<std::size_t>(j)] / sum, lat.data() + j * R, expected.data(), R);
          EXPECT_TRUE(std::equal(expected.begin(), expected.end(), o.begin() + h * R))
              << (f16 ? "f16" : "f32") << " R " << R << " P " << P << " heads " << heads << " head " << h;
        }
      }
}

TEST_P(FastKernels, MlaAttentionMatchesReference) {
  CpuBackend fast(GetParam(), CpuKernels::Fast), fast_bf16(GetParam(), CpuKernels::FastBf16), ref(GetParam(), CpuKernels::Reference);
  // 5 heads: groups of 4, 3, 2 and 1 heads at 1, 2 and 3 threads (latent_attention.h).
  const std::int64_t heads = 5, nope = 64, v = 64, positions = 40;
  // Latent and rope widths of the real models (whole 128- and 16-element vector blocks), and widths that leave
  // partial blocks. Float32 and float16 caches are read in place, 8-bit ones decoded first; the latent and the rope
  // part may be stored differently.
  struct Widths {
    std::int64_t R, rope;
  };
  for (Widths shape : {Widths{256, 32}, Widths{160, 24}})
    for (WeightType type : {WeightType::Q8_0, WeightType::IQ4_NL, WeightType::Affine4, WeightType::BF16})
      for (CpuBackend* be : {&fast, &fast_bf16})
      for (auto [format, rope_format] : {std::pair{KvFormat::F32, KvFormat::F32}, std::pair{KvFormat::F16, KvFormat::F16},
                                         std::pair{KvFormat::Q8, KvFormat::F16}})
        // 1 query: the per-head products use the type's row kernels; 12: the transposed float path.
        for (std::int64_t n : {1, 12}) {
          const std::int64_t R = shape.R, rope = shape.rope;
          TestWeight kab = make_weight(type, heads * R, nope, rng), vex = make_weight(type, heads * v, R, rng);
          std::vector<std::uint8_t> latent_bytes(static_cast<std::size_t>(positions * R * 4)),
              rope_bytes(static_cast<std::size_t>(positions * rope * 4));
          std::vector<std::uint16_t> scales(static_cast<std::size_t>(positions * R)), biases(scales.size());
          KvRows latent{}, k_rope{};
          latent.format = format;
          k_rope.format = rope_format;
          latent.width = R;
          k_rope.width = rope;
          latent.data = latent_bytes.data();
          k_rope.data = rope_bytes.data();
          if (format == KvFormat::Q8) {
            latent.group_size = 32;
            latent.scales = scales.data();
            latent.biases = biases.data();
          }
          auto lat = random_vec(static_cast<std::size_t>(positions * R), rng), kr = random_vec(static_cast<std::size_t>(positions * rope), rng);
          ref.store_kv_rows(latent, 0, lat.data(), R, positions);
          ref.store_kv_rows(k_rope, 0, kr.data(), rope, positions);
          auto q = random_vec(static_cast<std::size_t>(n * heads * (nope + rope)), rng);
          std::vector<std::int32_t> sel(static_cast<std::size_t>(n * 16)), count(static_cast<std::size_t>(n));
          for (std::int64_t t = 0; t < n; ++t) {
            count[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(5 + t);
            for (std::int64_t j = 0; j < 16; ++j) sel[static_cast<std::size_t>(t * 16 + j)] = static_cast<std::int32_t>((j * 3 + t) % positions);
          }
          MlaAttentionArgs a;
          a.n_queries = n;
          a.heads = heads;
          a.nope_dim = nope;
          a.rope_dim = rope;
          a.v_dim = v;
          a.latent_dim = R;
          a.q = q.data();
          a.latent = latent;
          a.k_rope = k_rope;
          a.selection = sel.data();
          a.selection_count = count.data();
          a.selection_stride = 16;
          a.k_absorb = kab.m;
          a.v_expand = vex.m;
          a.scale = 0.05f;
          std::vector<float> of(static_cast<std::size_t>(n * heads * v)), orf(of.size());
          a.out = of.data();
          be->mla_attention(a);
          a.out = orf.data();
          ref.mla_attention(a);
          const double tol = type != WeightType::BF16 ? kOpTolerance : be == &fast_bf16 ? kBf16OpTolerance : 1e-5;
          EXPECT_LE(relative_max_diff(of, orf), tol) << weight_type_name(type) << " n " << n << " latent " << R << " "
                                                     << kv_format_name(format) << " rope " << rope << " bf16 acts " << (be == &fast_bf16);
        }
}

// The tiled indexer (keys vectorised per tile) sums each dot product in another order than the reference, so scores
// differ by float32 rounding; with random data no two scores are that close, so the selections must be identical.
// Positions cross whole tiles, a partial tile and the all-visible case (visible ≤ topk); key heads of 64 and 24.
TEST_P(FastKernels, IndexerSelectionMatchesReference) {
  CpuBackend fast(GetParam(), CpuKernels::Fast), ref(GetParam(), CpuKernels::Reference);
  const std::int64_t heads = 4, N = 300, topk = 20;
  for (std::int64_t dim : {64, 24})
    for (KvFormat format : {KvFormat::F32, KvFormat::F16, KvFormat::Q8}) {
      std::vector<std::uint8_t> key_bytes(static_cast<std::size_t>(N * dim * 4));
      std::vector<std::uint16_t> scales(static_cast<std::size_t>(N * dim)), biases(scales.size());
      KvRows keys{format, dim, format == KvFormat::Q8 ? 8 : 0, key_bytes.data(), scales.data(), biases.data()};
      auto k = random_vec(static_cast<std::size_t>(N * dim), rng);
      ref.store_kv_rows(keys, 0, k.data(), dim, N);
      for (const std::vector<std::int32_t>& positions :
           {std::vector<std::int32_t>{299}, std::vector<std::int32_t>{70},
            std::vector<std::int32_t>{3, 19, 20, 63, 64, 65, 100, 127, 128, 200, 250, 298, 299}}) {
        const auto n = static_cast<std::int64_t>(positions.size());
        auto q = random_vec(static_cast<std::size_t>(n * heads * dim), rng);
        auto w = random_vec(static_cast<std::size_t>(n * heads), rng);
        IndexerArgs a;
        a.n_queries = n;
        a.heads = heads;
        a.head_dim = dim;
        a.topk = topk;
        a.q = q.data();
        a.head_weights = w.data();
        a.keys = keys;
        a.positions = positions.data();
        a.positions_bound = N;
        a.scale = 0.125f;
        std::vector<std::int32_t> sel_fast(static_cast<std::size_t>(n * topk)), sel_ref(sel_fast.size());
        std::vector<std::int32_t> count_fast(static_cast<std::size_t>(n)), count_ref(count_fast.size());
        a.selection = sel_fast.data();
        a.selection_count = count_fast.data();
        fast.indexer_select(a);
        a.selection = sel_ref.data();
        a.selection_count = count_ref.data();
        ref.indexer_select(a);
        EXPECT_EQ(count_fast, count_ref) << kv_format_name(format) << " dim " << dim;
        for (std::int64_t t = 0; t < n; ++t) {
          const auto c = static_cast<std::size_t>(count_ref[static_cast<std::size_t>(t)]);
          const auto at = static_cast<std::ptrdiff_t>(t * topk);
          EXPECT_TRUE(std::equal(sel_fast.begin() + at, sel_fast.begin() + at + static_cast<std::ptrdiff_t>(c), sel_ref.begin() + at))
              << kv_format_name(format) << " dim " << dim << " query at " << positions[static_cast<std::size_t>(t)];
        }
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Threads, FastKernels, ::testing::Values(1, 2, 3));

}  // namespace
}  // namespace glmq
