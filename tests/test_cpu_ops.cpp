// Every CPU op against a plain double-precision reference written directly from the math.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "backend/cpu/cpu_backend.h"
#include "cpu_test_util.h"
#include "core/float_convert.h"
#include "quant/ggml_dequantize.h"
#include "quant/mlx_affine.h"

namespace glmq {
namespace {

using test::make_weight;
using test::random_vec;
using test::TestWeight;

KvRows f32_rows(std::vector<float>& v, std::int64_t width) {
  KvRows r;
  r.format = KvFormat::F32;
  r.width = width;
  r.data = reinterpret_cast<std::uint8_t*>(v.data());
  return r;
}

double test_max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

class CpuOps : public ::testing::TestWithParam<int> {
 protected:
  // The reference kernels: these tests check the oracle itself against the math (test_cpu_kernels.cpp checks the
  // fast kernels against it).
  CpuBackend be{GetParam(), CpuKernels::Reference};
  std::mt19937 rng{42};
};

TEST_P(CpuOps, LinearAllTypesAndBatchSizes) {
  for (WeightType type : {WeightType::F32, WeightType::BF16, WeightType::F16, WeightType::Affine2, WeightType::Affine3,
                          WeightType::Affine4, WeightType::Affine5, WeightType::Affine6, WeightType::Affine8,
                          WeightType::Q8_0, WeightType::Q4_0, WeightType::Q5_0, WeightType::Q5_1, WeightType::Q2_K,
                          WeightType::Q3_K, WeightType::Q4_K,
                          WeightType::Q5_K, WeightType::Q6_K, WeightType::IQ4_NL, WeightType::IQ4_XS,
                          WeightType::IQ2_XXS, WeightType::IQ2_S, WeightType::IQ3_S}) {
    for (std::int64_t n : {1, 3, 17}) {
      // GGML K-quants and 256-element i-quants need rows of whole 256-element blocks.
      const std::int64_t rows = 70, cols = is_ggml_block(type) ? 512 : 320;
      TestWeight w = make_weight(type, rows, cols, rng);
      auto x = random_vec(static_cast<std::size_t>(n * cols), rng);
      std::vector<float> y(static_cast<std::size_t>(n * rows));
      be.linear(w.m, x.data(), n, y.data());
      for (std::int64_t t = 0; t < n; ++t)
        for (std::int64_t r = 0; r < rows; ++r) {
          double ref = 0;
          for (std::int64_t c = 0; c < cols; ++c) ref += static_cast<double>(w.values[static_cast<std::size_t>(r * cols + c)]) * x[static_cast<std::size_t>(t * cols + c)];
          ASSERT_NEAR(y[static_cast<std::size_t>(t * rows + r)], ref, 1e-4) << weight_type_name(type) << " n=" << n;
        }
    }
  }
}

TEST_P(CpuOps, RopeInterleavedAndHalfSplit) {
  RopeSpec spec;
  spec.inv_freq = {1.0f, 0.1f, 0.01f};
  for (bool interleaved : {true, false}) {
    spec.interleaved = interleaved;
    // Two rows, two heads of 10 values each, the rope slice (6 dims) at offset 4.
    auto x = random_vec(40, rng);
    auto y = x;
    std::int32_t pos[2] = {0, 7};
    be.rope(y.data(), 2, 20, 2, 10, 4, pos, spec);
    for (int t = 0; t < 2; ++t)
      for (int h = 0; h < 2; ++h) {
        const float* a = x.data() + t * 20 + h * 10;
        const float* b = y.data() + t * 20 + h * 10;
        for (int i = 0; i < 4; ++i) EXPECT_EQ(a[i], b[i]);  // untouched prefix
        for (int k = 0; k < 3; ++k) {
          int i0 = interleaved ? 4 + 2 * k : 4 + k, i1 = interleaved ? 4 + 2 * k + 1 : 4 + k + 3;
          double ang = pos[t] * static_cast<double>(spec.inv_freq[static_cast<std::size_t>(k)]);
          EXPECT_NEAR(b[i0], a[i0] * std::cos(ang) - a[i1] * std::sin(ang), 1e-5);
          EXPECT_NEAR(b[i1], a[i1] * std::cos(ang) + a[i0] * std::sin(ang), 1e-5);
        }
      }
  }
}

TEST_P(CpuOps, NormsMatchDefinition) {
  const std::int64_t n = 3, dim = 37;
  auto x = random_vec(static_cast<std::size_t>(n * dim), rng, 3.0f);
  auto w = random_vec(static_cast<std::size_t>(dim), rng);
  auto b = random_vec(static_cast<std::size_t>(dim), rng);
  std::vector<float> y(x.size()), z(x.size());
  be.rms_norm(x.data(), dim, w.data(), n, dim, 1e-5f, y.data());
  be.layer_norm(x.data(), w.data(), b.data(), n, dim, 1e-6f, z.data());
  for (std::int64_t t = 0; t < n; ++t) {
    double ss = 0, mean = 0, var = 0;
    for (std::int64_t i = 0; i < dim; ++i) {
      ss += x[static_cast<std::size_t>(t * dim + i)] * x[static_cast<std::size_t>(t * dim + i)];
      mean += x[static_cast<std::size_t>(t * dim + i)];
    }
    mean /= dim;
    for (std::int64_t i = 0; i < dim; ++i) var += std::pow(x[static_cast<std::size_t>(t * dim + i)] - mean, 2);
    var /= dim;
    for (std::int64_t i = 0; i < dim; ++i) {
      auto k = static_cast<std::size_t>(t * dim + i);
      EXPECT_NEAR(y[k], w[static_cast<std::size_t>(i)] * x[k] / std::sqrt(ss / dim + 1e-5), 1e-5);
      EXPECT_NEAR(z[k], (x[k] - mean) / std::sqrt(var + 1e-6) * w[static_cast<std::size_t>(i)] + b[static_cast<std::size_t>(i)], 1e-5);
    }
  }
}

// Absorbed sparse MLA equals attention over explicitly expanded keys and values.
TEST_P(CpuOps, AbsorbedMlaMatchesExpandedAttention) {
  const std::int64_t heads = 3, nope = 8, rope = 4, v = 6, R = 10, N = 9, n = 4, topk = 5;
  TestWeight kab = make_weight(WeightType::BF16, heads * R, nope, rng);  // per head W_UKᵀ
  TestWeight vex = make_weight(WeightType::F16, heads * v, R, rng);     // per head W_UV
  auto q = random_vec(static_cast<std::size_t>(n * heads * (nope + rope)), rng);
  auto latent = random_vec(static_cast<std::size_t>(N * R), rng);
  auto krope = random_vec(static_cast<std::size_t>(N * rope), rng);
  std::vector<std::int32_t> sel(static_cast<std::size_t>(n * topk)), count(static_cast<std::size_t>(n));
  for (std::int64_t t = 0; t < n; ++t) {
    std::vector<std::int32_t> all(static_cast<std::size_t>(N));
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), rng);
    count[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(2 + t);
    std::copy(all.begin(), all.begin() + 2 + t, sel.begin() + t * topk);
  }
  std::vector<float> out(static_cast<std::size_t>(n * heads * v));
  MlaAttentionArgs a;
  a.n_queries = n; a.heads = heads; a.nope_dim = nope; a.rope_dim = rope; a.v_dim = v; a.latent_dim = R;
  a.q = q.data(); a.latent = f32_rows(latent, R); a.k_rope = f32_rows(krope, rope);
  a.selection = sel.data(); a.selection_count = count.data(); a.selection_stride = topk;
  a.k_absorb = kab.m; a.v_expand = vex.m; a.scale = 0.3f; a.out = out.data();
  be.mla_attention(a);
  // Explicit per-head key/value projections: K_h[d][c] = W_UK, V_h[i][c] = W_UV.
  auto K = [&](std::int64_t h, std::int64_t d, std::int64_t c) { return static_cast<double>(kab.values[static_cast<std::size_t>((h * R + c) * nope + d)]); };
  auto V = [&](std::int64_t h, std::int64_t i, std::int64_t c) { return static_cast<double>(vex.values[static_cast<std::size_t>((h * v + i) * R + c)]); };
  for (std::int64_t t = 0; t < n; ++t)
    for (std::int64_t h = 0; h < heads; ++h) {
      const std::int64_t cnt = count[static_cast<std::size_t>(t)];
      std::vector<double> s(static_cast<std::size_t>(cnt));
      for (std::int64_t j = 0; j < cnt; ++j) {
        std::int64_t p = sel[static_cast<std::size_t>(t * topk + j)];
        double dot = 0;
        for (std::int64_t d = 0; d < nope; ++d) {
          double k = 0;
          for (std::int64_t c = 0; c < R; ++c) k += K(h, d, c) * latent[static_cast<std::size_t>(p * R + c)];
          dot += q[static_cast<std::size_t>((t * heads + h) * (nope + rope) + d)] * k;
        }
        for (std::int64_t d = 0; d < rope; ++d)
          dot += q[static_cast<std::size_t>((t * heads + h) * (nope + rope) + nope + d)] * krope[static_cast<std::size_t>(p * rope + d)];
        s[static_cast<std::size_t>(j)] = dot * 0.3;
      }
      double mx = *std::max_element(s.begin(), s.end()), sum = 0;
      for (auto& e : s) sum += (e = std::exp(e - mx));
      for (std::int64_t i = 0; i < v; ++i) {
        double o = 0;
        for (std::int64_t j = 0; j < cnt; ++j) {
          std::int64_t p = sel[static_cast<std::size_t>(t * topk + j)];
          double val = 0;
          for (std::int64_t c = 0; c < R; ++c) val += V(h, i, c) * latent[static_cast<std::size_t>(p * R + c)];
          o += s[static_cast<std::size_t>(j)] / sum * val;
        }
        EXPECT_NEAR(out[static_cast<std::size_t>((t * heads + h) * v + i)], o, 1e-4);
      }
    }
}

// Quantized cache rows: attention over Q8/Q4/F16 rows equals attention over the same rows decoded to float32,
// and the decoded rows stay within half a quantization step of what was stored.
TEST_P(CpuOps, AttentionOverQuantizedCacheRowsEqualsDecodedRows) {
  const std::int64_t heads = 2, nope = 8, rope = 8, v = 6, R = 32, N = 12;
  TestWeight kab = make_weight(WeightType::F32, heads * R, nope, rng);
  TestWeight vex = make_weight(WeightType::F32, heads * v, R, rng);
  auto q = random_vec(static_cast<std::size_t>(heads * (nope + rope)), rng);
  auto latent = random_vec(static_cast<std::size_t>(N * R), rng), krope = random_vec(static_cast<std::size_t>(N * rope), rng);
  std::vector<std::int32_t> sel{0, 3, 5, 11, 7}, count{5};
  for (KvFormat f : {KvFormat::F16, KvFormat::Q8, KvFormat::Q4}) {
    std::vector<std::uint8_t> data(static_cast<std::size_t>(N * R * 4)), rdata(static_cast<std::size_t>(N * rope * 4));
    std::vector<std::uint16_t> sc(static_cast<std::size_t>(N * R)), bi(sc.size()), rsc(sc.size()), rbi(sc.size());
    KvRows lat{f, R, f == KvFormat::F16 ? 0 : 16, data.data(), sc.data(), bi.data()};
    KvRows rop{f, rope, f == KvFormat::F16 ? 0 : 8, rdata.data(), rsc.data(), rbi.data()};
    be.store_kv_rows(lat, 0, latent.data(), R, N);
    be.store_kv_rows(rop, 0, krope.data(), rope, N);
    std::vector<float> lat_back(static_cast<std::size_t>(N * R)), rop_back(static_cast<std::size_t>(N * rope));
    be.load_kv_rows(lat, 0, N, lat_back.data());
    be.load_kv_rows(rop, 0, N, rop_back.data());
    const double step = f == KvFormat::Q4 ? 6.0 / 15 : f == KvFormat::Q8 ? 6.0 / 255 : 1e-2;
    EXPECT_LE(test_max_diff(lat_back, latent), step) << kv_format_name(f);
    std::vector<float> out_q(static_cast<std::size_t>(heads * v)), out_f(out_q.size());
    MlaAttentionArgs a;
    a.n_queries = 1; a.heads = heads; a.nope_dim = nope; a.rope_dim = rope; a.v_dim = v; a.latent_dim = R;
    a.q = q.data(); a.selection = sel.data(); a.selection_count = count.data(); a.selection_stride = 5;
    a.k_absorb = kab.m; a.v_expand = vex.m; a.scale = 0.3f;
    a.latent = lat; a.k_rope = rop; a.out = out_q.data();
    be.mla_attention(a);
    a.latent = f32_rows(lat_back, R); a.k_rope = f32_rows(rop_back, rope); a.out = out_f.data();
    be.mla_attention(a);
    EXPECT_LE(test_max_diff(out_q, out_f), 1e-5) << kv_format_name(f);
  }
}

TEST_P(CpuOps, IndexerSelectsTheTopScoresCausally) {
  const std::int64_t heads = 4, dim = 8, N = 40, topk = 6;
  auto keys = random_vec(static_cast<std::size_t>(N * dim), rng);
  std::vector<std::int32_t> positions{2, 5, 6, 20, 39};
  const auto n = static_cast<std::int64_t>(positions.size());
  auto q = random_vec(static_cast<std::size_t>(n * heads * dim), rng);
  auto w = random_vec(static_cast<std::size_t>(n * heads), rng);
  std::vector<std::int32_t> sel(static_cast<std::size_t>(n * topk)), count(static_cast<std::size_t>(n));
  IndexerArgs a;
  a.n_queries = n; a.heads = heads; a.head_dim = dim; a.topk = topk;
  a.q = q.data(); a.head_weights = w.data(); a.keys = f32_rows(keys, dim); a.positions = positions.data();
  a.scale = 0.5f; a.selection = sel.data(); a.selection_count = count.data();
  be.indexer_select(a);
  for (std::int64_t t = 0; t < n; ++t) {
    const std::int64_t visible = positions[static_cast<std::size_t>(t)] + 1;
    std::vector<std::pair<double, std::int32_t>> scored;
    for (std::int64_t j = 0; j < visible; ++j) {
      double s = 0;
      for (std::int64_t g = 0; g < heads; ++g) {
        double d = 0;
        for (std::int64_t i = 0; i < dim; ++i) d += q[static_cast<std::size_t>((t * heads + g) * dim + i)] * keys[static_cast<std::size_t>(j * dim + i)];
        s += w[static_cast<std::size_t>(t * heads + g)] * std::max(d * 0.5, 0.0);
      }
      scored.emplace_back(-s, static_cast<std::int32_t>(j));
    }
    std::sort(scored.begin(), scored.end());
    std::vector<std::int32_t> want;
    for (std::int64_t k = 0; k < std::min(visible, topk); ++k) want.push_back(scored[static_cast<std::size_t>(k)].second);
    std::sort(want.begin(), want.end());
    std::vector<std::int32_t> got(sel.begin() + t * topk, sel.begin() + t * topk + count[static_cast<std::size_t>(t)]);
    EXPECT_EQ(got, want) << "query at position " << positions[static_cast<std::size_t>(t)];
  }
}

TEST_P(CpuOps, MoeRoutingWithGroupsAndBias) {
  const std::int64_t E = 16, k = 4, groups = 4, keep = 2, n = 5;
  auto logits = random_vec(static_cast<std::size_t>(n * E), rng, 2.0f);
  auto bias = random_vec(static_cast<std::size_t>(E), rng, 0.3f);
  std::vector<std::int32_t> ex(static_cast<std::size_t>(n * k));
  std::vector<float> wt(static_cast<std::size_t>(n * k));
  MoeRouteArgs a;
  a.n_tokens = n; a.n_experts = E; a.top_k = k; a.n_group = groups; a.topk_group = keep;
  a.norm_topk_prob = true; a.routed_scaling_factor = 2.5f;
  a.logits = logits.data(); a.correction_bias = bias.data(); a.experts = ex.data(); a.weights = wt.data();
  be.moe_route(a);
  for (std::int64_t t = 0; t < n; ++t) {
    std::vector<double> p(E), c(E);
    for (std::int64_t e = 0; e < E; ++e) {
      p[static_cast<std::size_t>(e)] = 1 / (1 + std::exp(-static_cast<double>(logits[static_cast<std::size_t>(t * E + e)])));
      c[static_cast<std::size_t>(e)] = p[static_cast<std::size_t>(e)] + bias[static_cast<std::size_t>(e)];
    }
    std::vector<std::pair<double, int>> gs;
    for (int g = 0; g < groups; ++g) {
      std::vector<double> v(c.begin() + g * 4, c.begin() + g * 4 + 4);
      std::sort(v.rbegin(), v.rend());
      gs.emplace_back(-(v[0] + v[1]), g);
    }
    std::sort(gs.begin(), gs.end());
    std::vector<std::pair<double, int>> cand;
    for (int r = 0; r < keep; ++r)
      for (int e = gs[static_cast<std::size_t>(r)].second * 4; e < gs[static_cast<std::size_t>(r)].second * 4 + 4; ++e)
        cand.emplace_back(-c[static_cast<std::size_t>(e)], e);
    std::sort(cand.begin(), cand.end());
    double sum = 0;
    for (int r = 0; r < k; ++r) sum += p[static_cast<std::size_t>(cand[static_cast<std::size_t>(r)].second)];
    for (int r = 0; r < k; ++r) {
      EXPECT_EQ(ex[static_cast<std::size_t>(t * k + r)], cand[static_cast<std::size_t>(r)].second);
      EXPECT_NEAR(wt[static_cast<std::size_t>(t * k + r)], p[static_cast<std::size_t>(cand[static_cast<std::size_t>(r)].second)] / sum * 2.5, 1e-5);
    }
  }
}

TEST_P(CpuOps, MoeExpertsEqualsPerTokenSum) {
  const std::int64_t E = 5, hidden = 12, width = 7, n = 6, k = 2;
  std::vector<TestWeight> store;
  std::vector<SwigluWeights> experts;
  for (std::int64_t e = 0; e < E; ++e) {
    store.push_back(make_weight(WeightType::BF16, width, hidden, rng));
    store.push_back(make_weight(WeightType::BF16, width, hidden, rng));
    store.push_back(make_weight(WeightType::BF16, hidden, width, rng));
  }
  for (std::int64_t e = 0; e < E; ++e)
    experts.push_back({store[static_cast<std::size_t>(3 * e)].m, store[static_cast<std::size_t>(3 * e + 1)].m, store[static_cast<std::size_t>(3 * e + 2)].m});
  auto x = random_vec(static_cast<std::size_t>(n * hidden), rng);
  std::vector<std::int32_t> ids{0, 3, 3, 1, 4, 0, 2, 3, 1, 4, 0, 2};
  std::vector<float> wts = random_vec(static_cast<std::size_t>(n * k), rng);
  std::vector<float> out(static_cast<std::size_t>(n * hidden), 1.0f);
  MoeExpertsArgs a;
  a.n_tokens = n; a.top_k = k; a.x = x.data(); a.experts = ids.data(); a.weights = wts.data();
  a.expert_weights = experts.data(); a.n_experts = E; a.out = out.data();
  be.moe_experts(a);
  for (std::int64_t t = 0; t < n; ++t) {
    std::vector<double> ref(static_cast<std::size_t>(hidden), 1.0);
    for (std::int64_t s = 0; s < k; ++s) {
      auto e = static_cast<std::size_t>(ids[static_cast<std::size_t>(t * k + s)]);
      const auto& g = store[3 * e].values;
      const auto& u = store[3 * e + 1].values;
      const auto& d = store[3 * e + 2].values;
      std::vector<double> act(static_cast<std::size_t>(width));
      for (std::int64_t i = 0; i < width; ++i) {
        double gv = 0, uv = 0;
        for (std::int64_t c = 0; c < hidden; ++c) {
          gv += g[static_cast<std::size_t>(i * hidden + c)] * x[static_cast<std::size_t>(t * hidden + c)];
          uv += u[static_cast<std::size_t>(i * hidden + c)] * x[static_cast<std::size_t>(t * hidden + c)];
        }
        act[static_cast<std::size_t>(i)] = gv / (1 + std::exp(-gv)) * uv;
      }
      for (std::int64_t o = 0; o < hidden; ++o) {
        double dv = 0;
        for (std::int64_t i = 0; i < width; ++i) dv += d[static_cast<std::size_t>(o * width + i)] * act[static_cast<std::size_t>(i)];
        ref[static_cast<std::size_t>(o)] += wts[static_cast<std::size_t>(t * k + s)] * dv;
      }
    }
    for (std::int64_t o = 0; o < hidden; ++o) EXPECT_NEAR(out[static_cast<std::size_t>(t * hidden + o)], ref[static_cast<std::size_t>(o)], 1e-5);
  }
}

// One thread (the plain path) and several threads must agree.
INSTANTIATE_TEST_SUITE_P(Threads, CpuOps, ::testing::Values(1, 2));

}  // namespace
}  // namespace glmq
