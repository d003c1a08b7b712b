// Every CUDA op but the MoE block's (test_cuda_moe.cpp) against the CPU reference backend, for every weight type
// and both the few-token (decode) and many-token (prefill) paths, within the tolerances of cuda_test_util.h.
// Skips without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <numeric>
#include <set>

#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/kernel_timeline.h"
#include "cuda_test_util.h"
#include "kv_rows_test_util.h"

namespace glmq::test {
namespace {

const WeightType kAllTypes[] = {WeightType::F32,     WeightType::BF16,    WeightType::F16,
                                WeightType::Affine2, WeightType::Affine3, WeightType::Affine4,
                                WeightType::Affine5, WeightType::Affine6, WeightType::Affine8};

// Exact results within tol of the largest reference value; int8 ones (int8 true) within tol norm-wise.
double check_linear(Backend& gpu, CpuBackend& cpu, const TestWeight& w, std::int64_t n, std::mt19937& rng, double tol,
                    const std::string& what, bool int8 = false) {
  auto x = random_vec(static_cast<std::size_t>(n * w.m.cols), rng);
  std::vector<float> want(static_cast<std::size_t>(n * w.m.rows));
  cpu.linear(w.m, x.data(), n, want.data());
  DeviceArray<float> dx(gpu, x), dy(gpu, want.size());
  gpu.linear(w.m, dx.data(), n, dy.data());
  const double err = int8 ? relative_norm_error(dy.get(), want) : relative_max_error(dy.get(), want);
  EXPECT_LE(err, tol) << what << " n=" << n;
  return err;
}

TEST_F(CudaOps, LinearEveryTypeFewAndManyTokens) {
  CudaBackend gpu(exact_options());
  for (WeightType type : kAllTypes) {
    // Fast path (whole chunks per lane), a second group size, and (float types) the element-wise fallback.
    struct Shape { std::int64_t rows, cols, group; };
    std::vector<Shape> shapes = {{70, 512, 64}, {33, 96, 32}, {9, 256, 128}};
    if (is_float_type(type)) shapes.push_back({20, 36, 0});
    for (const Shape& s : shapes) {
      TestWeight w = make_weight(type, s.rows, s.cols, rng, s.group);
      for (std::int64_t n : {1, 3, 20})
        check_linear(gpu, cpu, w, n, rng, kExactTol,
                     std::string(weight_type_name(type)) + " " + std::to_string(s.rows) + "x" + std::to_string(s.cols));
    }
  }
}

// The default backend: int8 activations on the decode path (≤ 8 tokens) of quantized weights, split-K on
// matrices with few rows; float weights and prefill stay exact.
TEST_F(CudaOps, LinearInt8DecodePathWithinTolerance) {
  CudaBackend gpu;
  double worst = 0;
  for (WeightType type : kAllTypes) {
    const bool exact = is_float_type(type);
    struct Shape { std::int64_t rows, cols, group; };
    // 4 rows over 6144 columns: the split-K case; 96 columns: 8-lane groups.
    for (const Shape s : {Shape{70, 512, 64}, Shape{33, 96, 32}, Shape{4, 6144, 64}, Shape{300, 2048, 64}}) {
      TestWeight w = make_weight(type, s.rows, s.cols, rng, s.group);
      for (std::int64_t n : {1, 3, 8, 20}) {
        const bool int8 = !exact && n <= 8;
        const double err = check_linear(gpu, cpu, w, n, rng, int8 ? kInt8Tol : kExactTol,
                                        std::string(weight_type_name(type)) + " " + std::to_string(s.rows) + "x" +
                                            std::to_string(s.cols) + " int8 path",
                                        int8);
        if (!exact && n <= 8) worst = std::max(worst, err);
      }
    }
  }
  std::printf("int8 decode path, linear: worst relative error %.3g (tolerance %.0e)\n", worst, kInt8Tol);
}

// Backend::independent on CUDA: the branches go to side streams, and ops of different branches that share a
// work buffer are ordered (decode: the int8 copies of the normalised inputs; prefill: dequantized weight tiles,
// the bf16 input copy and cuBLAS); and linears of one input, branched too. Every result equals the same ops
// issued in stream order.
TEST_F(CudaOps, IndependentBranchesEqualStreamOrder) {
  CudaOptions in_order;
  in_order.concurrent_branches = false;
  CudaBackend branched, serial(in_order);
  const std::int64_t cols = 512;
  const TestWeight a = make_weight(WeightType::Affine4, 96, cols, rng), b = make_weight(WeightType::Affine3, 160, cols, rng),
                   c = make_weight(WeightType::BF16, 64, cols, rng);
  const std::vector<float> norm = random_vec(static_cast<std::size_t>(cols), rng);
  for (std::int64_t n : {1, 3, 20, 40}) {
    const std::vector<float> x = random_vec(static_cast<std::size_t>(n * cols), rng);
    auto run = [&](CudaBackend& gpu) {
      DeviceArray<float> dx(gpu, x), h0(gpu, x.size()), h1(gpu, x.size());
      DeviceArray<float> y0(gpu, static_cast<std::size_t>(n * a.m.rows)), y1(gpu, static_cast<std::size_t>(n * b.m.rows)),
          y2(gpu, static_cast<std::size_t>(n * c.m.rows));
      const std::function<void()> branches[] = {
          [&] {
            gpu.rms_norm(dx.data(), cols, norm.data(), n, cols, 1e-6f, h0.data());
            gpu.linear(a.m, h0.data(), n, y0.data());
          },
          [&] {
            gpu.rms_norm(dx.data(), cols, norm.data(), n, cols, 1e-5f, h1.data());
            gpu.linear(b.m, h1.data(), n, y1.data());
          },
          [&] { gpu.linear(c.m, dx.data(), n, y2.data()); }};
      gpu.independent(branches);
      // Products of one input (CudaBackend::linears makes their shared int8 copy, then branches them).
      DeviceArray<float> z0(gpu, static_cast<std::size_t>(n * a.m.rows)), z1(gpu, static_cast<std::size_t>(n * b.m.rows)),
          z2(gpu, static_cast<std::size_t>(n * c.m.rows));
      const LinearTarget targets[] = {{&a.m, z0.data()}, {&b.m, z1.data()}, {&c.m, z2.data()}};
      gpu.linears(targets, h0.data(), n);
      std::vector<float> out = y0.get();
      for (const DeviceArray<float>* y : {&y1, &y2, &z0, &z1, &z2}) {
        const std::vector<float> part = y->get();
        out.insert(out.end(), part.begin(), part.end());
      }
      return out;
    };
    const std::vector<float> want = run(serial), got = run(branched);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_LE(relative_max_error(got, want), 1e-6) << "n=" << n;
  }
}

// Backend::linears on the decode path: the int8 products of one type and width run in one launch
// (matvec_q8_batch), the others (another type, a float type) beside them. Each output is within the int8
// tolerance of the CPU's, and equals the same product launched alone up to float summation order (the batch
// may split the rows' columns differently), issued on side streams or in stream order alike.
TEST_F(CudaOps, LinearsOfOneInputInOneLaunch) {
  CudaOptions in_order;
  in_order.concurrent_branches = false;
  CudaBackend branched, serial(in_order);
  for (std::int64_t cols : {512, 2048}) {
    // The device caches weights by host address, which these weights may reuse from the round before.
    branched.forget_weights();
    serial.forget_weights();
    // Three Affine4 products (one batch), an Affine3 and a BF16 one beside it.
    std::vector<TestWeight> ws;
    for (auto [type, rows] : {std::pair{WeightType::Affine4, 96}, std::pair{WeightType::Affine3, 64},
                              std::pair{WeightType::Affine4, 40}, std::pair{WeightType::BF16, 32},
                              std::pair{WeightType::Affine4, 300}})
      ws.push_back(make_weight(type, rows, cols, rng));
    for (std::int64_t n : {1, 3, 8}) {
      const std::vector<float> x = random_vec(static_cast<std::size_t>(n * cols), rng);
      for (CudaBackend* gpu : {&branched, &serial}) {
        DeviceArray<float> dx(*gpu, x);
        std::deque<DeviceArray<float>> together, alone;
        std::vector<LinearTarget> targets;
        for (const TestWeight& w : ws) {
          together.emplace_back(*gpu, static_cast<std::size_t>(n * w.m.rows));
          alone.emplace_back(*gpu, static_cast<std::size_t>(n * w.m.rows));
          targets.push_back({&w.m, together.back().data()});
        }
        gpu->linears(targets, dx.data(), n);
        for (std::size_t i = 0; i < ws.size(); ++i) gpu->linear(ws[i].m, dx.data(), n, alone[i].data());
        for (std::size_t i = 0; i < ws.size(); ++i) {
          const std::string what = std::string(weight_type_name(ws[i].m.type)) + " " + std::to_string(ws[i].m.rows) + "x" +
                                   std::to_string(cols) + " n=" + std::to_string(n) +
                                   (gpu == &serial ? " in stream order" : " branched");
          std::vector<float> want(static_cast<std::size_t>(n * ws[i].m.rows));
          cpu.linear(ws[i].m, x.data(), n, want.data());
          const std::vector<float> got = together[i].get();
          const bool exact = is_float_type(ws[i].m.type);
          EXPECT_LE(exact ? relative_max_error(got, want) : relative_norm_error(got, want), exact ? kExactTol : kInt8Tol)
              << what;
          EXPECT_LE(relative_max_error(got, alone[i].get()), 1e-5) << what << " against the product alone";
        }
      }
    }
  }
}

// Backend::linears with rotated outputs (LinearTarget::rope: q_b's and the indexer queries' rope dimensions).
// On the int8 path the batch rotates interleaved pairs in its epilogue — two rotated products, one alone (a
// batch of one), beside an unrotated one — and anything else (a float-typed product, pairs k and k + half, the
// float kernels of exact_decode) is rotated by a rope launch after its product. Each output is within the
// product's tolerance of the CPU's linears (which rotate after the product), and equals the same product
// launched alone then rotated by Backend::rope up to float summation order.
TEST_F(CudaOps, LinearsRotateTheirOutputsAsCpu) {
  CudaOptions exact;
  exact.exact_decode = true;
  CudaBackend int8, floats(exact);
  const std::int64_t cols = 512;
  auto spec_of = [](int half, float factor, bool interleaved) {
    RopeSpec s;
    for (int k = 0; k < half; ++k) s.inv_freq.push_back(std::pow(10000.0f, -2.0f * static_cast<float>(k) / (2.0f * static_cast<float>(half))));
    s.attention_factor = factor;
    s.interleaved = interleaved;
    return s;
  };
  const RopeSpec q_spec = spec_of(8, 1.0f, true), index_spec = spec_of(16, 1.25f, true), halves = spec_of(8, 1.0f, false);
  // Weights: 4 heads of 48 (32 nope + 16 rope), 2 heads of 32 (rope first), an unrotated one, a BF16 one.
  const TestWeight q = make_weight(WeightType::Affine4, 4 * 48, cols, rng), iq = make_weight(WeightType::Affine4, 2 * 32, cols, rng),
                   plain = make_weight(WeightType::Affine4, 40, cols, rng), bf = make_weight(WeightType::BF16, 2 * 32, cols, rng);
  for (std::int64_t n : {1, 3}) {
    const std::vector<float> x = random_vec(static_cast<std::size_t>(n * cols), rng);
    const std::vector<std::int32_t> pos = {7, 300, 0};
    const std::vector<std::int32_t> host_pos(pos.begin(), pos.begin() + n);
    struct Case {
      std::string name;
      std::vector<std::pair<const TestWeight*, RotaryOutput>> products;  // rope.spec null: not rotated
    };
    auto rot = [](const RopeSpec& s, std::int64_t heads, std::int64_t stride, std::int64_t offset) {
      return RotaryOutput{&s, nullptr, heads, stride, offset};
    };
    const std::vector<Case> cases = {
        {"q and indexer queries beside a plain product", {{&q, rot(q_spec, 4, 48, 32)}, {&iq, rot(index_spec, 2, 32, 0)}, {&plain, {}}}},
        {"q alone", {{&q, rot(q_spec, 4, 48, 32)}}},
        {"a BF16 product beside an int8 one", {{&bf, rot(index_spec, 2, 32, 0)}, {&q, rot(q_spec, 4, 48, 32)}}},
        {"pairs k and k + half", {{&q, rot(halves, 4, 48, 32)}, {&iq, rot(q_spec, 2, 32, 16)}}}};
    for (const Case& c : cases) {
      for (CudaBackend* gpu : {&int8, &floats}) {
        const std::string what = c.name + " n=" + std::to_string(n) + (gpu == &floats ? " exact" : " int8");
        DeviceArray<float> dx(*gpu, x);
        DeviceArray<std::int32_t> dpos(*gpu, host_pos);
        std::deque<DeviceArray<float>> together, alone;
        std::vector<RotaryOutput> ropes, cpu_ropes;
        ropes.reserve(c.products.size());
        cpu_ropes.reserve(c.products.size());
        std::vector<LinearTarget> targets, cpu_targets;
        std::vector<std::vector<float>> want;
        for (const auto& [w, r] : c.products) {
          const auto size = static_cast<std::size_t>(n * w->m.rows);
          together.emplace_back(*gpu, size);
          alone.emplace_back(*gpu, size);
          want.emplace_back(size);
          ropes.push_back(r);
          ropes.back().positions = dpos.data();
          cpu_ropes.push_back(r);
          cpu_ropes.back().positions = host_pos.data();
          targets.push_back({&w->m, together.back().data(), r.spec ? &ropes.back() : nullptr});
          cpu_targets.push_back({&w->m, want.back().data(), r.spec ? &cpu_ropes.back() : nullptr});
        }
        gpu->linears(targets, dx.data(), n);
        cpu.linears(cpu_targets, x.data(), n);
        for (std::size_t i = 0; i < targets.size(); ++i) {
          gpu->linear(*targets[i].w, dx.data(), n, alone[i].data());
          if (const RotaryOutput* r = targets[i].rope)
            gpu->rope(alone[i].data(), n, targets[i].w->rows, r->heads, r->head_stride, r->offset, r->positions, *r->spec);
          const std::vector<float> got = together[i].get();
          const bool exact_product = gpu == &floats || is_float_type(targets[i].w->type);
          const std::string which = what + " product " + std::to_string(i);
          EXPECT_LE(exact_product ? relative_max_error(got, want[i]) : relative_norm_error(got, want[i]),
                    exact_product ? kExactTol : kInt8Tol)
              << which;
          EXPECT_LE(relative_max_error(got, alone[i].get()), 1e-5) << which << " against the product alone, then rope";
        }
      }
    }
  }
}

// Backend::attention_entry: on the decode path one launch (attention_entry.cu) does q_a's norm (and its int8
// copy, which q_b then reads), the latent chain, the indexer key chain and the indexer's head weights (a small
// product of the hidden state) for every token, writing each token's rows to its own sequence's caches. Three
// tokens in two chunks, every cache format, with and without an indexer (BF16 and 8-bit affine head-weight
// products), against the CPU's chains: the float outputs within float rounding (2e-5), the cache rows as read
// back within rounding of one code (float16: 1e-3; 8-bit and 4-bit codes: two steps of the group's range),
// and q_b on the normed q_a within the int8 tolerance.
TEST_F(CudaOps, AttentionEntryEqualsCpu) {
  CudaBackend gpu;
  const std::int64_t n = 3, q_lora = 256, R = 128, rope = 32, id = 64, ih = 16, positions = 12;
  const std::vector<std::int32_t> pos = {5, 9, 0};
  const std::int64_t hidden = 320;
  const TestWeight q_b = make_weight(WeightType::Affine4, 96, q_lora, rng);
  // BF16 head weights take the entry's float-row loads, 8-bit affine ones its element-wise path.
  const TestWeight proj_bf16 = make_weight(WeightType::BF16, ih, hidden, rng),
                   proj_affine8 = make_weight(WeightType::Affine8, ih, hidden, rng, 64);
  RopeSpec spec, index_spec;
  for (int k = 0; k < rope / 2; ++k) spec.inv_freq.push_back(std::pow(10000.0f, -2.0f * static_cast<float>(k) / rope));
  for (int k = 0; k < id / 2; ++k) index_spec.inv_freq.push_back(std::pow(500.0f, -2.0f * static_cast<float>(k) / id));
  index_spec.interleaved = false;
  spec.attention_factor = 1.25f;
  const auto q_norm = random_vec(q_lora, rng), kv_norm = random_vec(R, rng), k_w = random_vec(id, rng),
             k_b = random_vec(id, rng);
  for (KvFormat format : kAllKvFormats) {
    for (bool indexer : {false, true}) {
      const TestWeight& head_weight_proj = format == KvFormat::F16 || format == KvFormat::Q4 ? proj_affine8 : proj_bf16;
      const std::string what = kv_format_name(format) + (indexer ? " with indexer, head weights " : "") +
                               (indexer ? std::string(weight_type_name(head_weight_proj.m.type)) : "");
      const auto q_a = random_vec(static_cast<std::size_t>(n * q_lora), rng);
      const auto kv_a = random_vec(static_cast<std::size_t>(n * (R + rope)), rng);
      const auto ik = random_vec(static_cast<std::size_t>(n * id), rng);
      const auto iw = random_vec(static_cast<std::size_t>(n * ih), rng);  // overwritten: the head weights
      const auto x = random_vec(static_cast<std::size_t>(n * hidden), rng);
      // Two sequences' caches per kind (the first holds tokens 0 and 1, the second token 2), zeros at first.
      const std::vector<float> zeros_latent(static_cast<std::size_t>(positions * R)),
          zeros_rope(static_cast<std::size_t>(positions * rope)), zeros_key(static_cast<std::size_t>(positions * id));
      std::vector<std::unique_ptr<SharedKvRows>> caches;
      for (int c = 0; c < 2; ++c) {
        caches.push_back(std::make_unique<SharedKvRows>(cpu, gpu, format, R, 32, zeros_latent));
        caches.push_back(std::make_unique<SharedKvRows>(cpu, gpu, format, rope, 16, zeros_rope));
        caches.push_back(std::make_unique<SharedKvRows>(cpu, gpu, format, id, 32, zeros_key));
      }
      auto chunks_of = [&](bool device) {
        std::vector<AttentionEntryChunk> chunks(2);
        for (int c = 0; c < 2; ++c) {
          chunks[c].row = c == 0 ? 0 : 2;
          chunks[c].n = c == 0 ? 2 : 1;
          for (int k = 0; k < 3; ++k) {
            const SharedKvRows& rows = *caches[static_cast<std::size_t>(3 * c + k)];
            (k == 0 ? chunks[c].latent : k == 1 ? chunks[c].k_rope : chunks[c].index_keys) =
                device ? rows.device.view : rows.host.view;
          }
        }
        return chunks;
      };
      struct Outputs {
        std::vector<float> q_a_normed, kv_a, latent, ik, iw, proj;
      };
      auto run = [&](Backend& be, bool device) {
        const std::vector<float> init_latent(static_cast<std::size_t>(n * R)), init_q(q_a.size()),
            init_proj(static_cast<std::size_t>(n * q_b.m.rows));
        std::vector<float> h_q = q_a, h_kv = kv_a, h_ik = ik, h_iw = iw, h_qn = init_q, h_lat = init_latent,
                           h_proj = init_proj, h_x = x;
        std::vector<std::int32_t> h_pos = pos;
        std::unique_ptr<DeviceArray<float>> d_q, d_kv, d_ik, d_iw, d_qn, d_lat, d_proj, d_x;
        std::unique_ptr<DeviceArray<std::int32_t>> d_pos;
        if (device) {
          d_q = std::make_unique<DeviceArray<float>>(be, h_q);
          d_kv = std::make_unique<DeviceArray<float>>(be, h_kv);
          d_ik = std::make_unique<DeviceArray<float>>(be, h_ik);
          d_iw = std::make_unique<DeviceArray<float>>(be, h_iw);
          d_qn = std::make_unique<DeviceArray<float>>(be, h_qn);
          d_lat = std::make_unique<DeviceArray<float>>(be, h_lat);
          d_proj = std::make_unique<DeviceArray<float>>(be, h_proj);
          d_x = std::make_unique<DeviceArray<float>>(be, h_x);
          d_pos = std::make_unique<DeviceArray<std::int32_t>>(be, h_pos);
        }
        const std::vector<AttentionEntryChunk> chunks = chunks_of(device);
        AttentionEntryArgs e;
        e.n = n;
        e.positions = device ? d_pos->data() : h_pos.data();
        e.eps = 1e-6f;
        e.q_a = device ? d_q->data() : h_q.data();
        e.q_lora = q_lora;
        e.q_a_norm = q_norm.data();
        e.q_a_normed = device ? d_qn->data() : h_qn.data();
        e.kv_a = device ? d_kv->data() : h_kv.data();
        e.latent_dim = R;
        e.rope_dim = rope;
        e.kv_a_norm = kv_norm.data();
        e.latent = device ? d_lat->data() : h_lat.data();
        e.rope = &spec;
        if (indexer) {
          e.index_key = device ? d_ik->data() : h_ik.data();
          e.index_dim = id;
          e.index_norm_weight = k_w.data();
          e.index_norm_bias = k_b.data();
          e.index_eps = 1e-5f;
          e.index_rope = &index_spec;
          e.head_weight_proj = &head_weight_proj.m;
          e.hidden = device ? d_x->data() : h_x.data();
          e.hidden_dim = hidden;
          e.head_weights = device ? d_iw->data() : h_iw.data();
          e.index_heads = ih;
          e.head_weight_scale = 0.25f;
        }
        e.chunks = chunks;
        be.attention_entry(e);
        be.linear(q_b.m, e.q_a_normed, n, device ? d_proj->data() : h_proj.data());
        if (device)
          return Outputs{d_qn->get(), d_kv->get(), d_lat->get(), d_ik->get(), d_iw->get(), d_proj->get()};
        return Outputs{h_qn, h_kv, h_lat, h_ik, h_iw, h_proj};
      };
      gpu.forget_weights();  // norm vectors are cached by host address
      const Outputs want = run(cpu, false);
      // The CPU has written its host caches; the device caches are still zeros until the GPU runs.
      const Outputs got = run(gpu, true);
      EXPECT_LE(relative_max_error(got.q_a_normed, want.q_a_normed), kExactTol) << what;
      EXPECT_LE(relative_max_error(got.kv_a, want.kv_a), kExactTol) << what;
      EXPECT_LE(relative_max_error(got.latent, want.latent), kExactTol) << what;
      EXPECT_LE(relative_max_error(got.ik, want.ik), kExactTol) << what;
      EXPECT_LE(relative_max_error(got.iw, want.iw), kExactTol) << what;
      EXPECT_LE(relative_norm_error(got.proj, want.proj), kInt8Tol) << what << " q_b on the normed q_a";
      const double cache_tol = format == KvFormat::F32 ? kExactTol : format == KvFormat::F16 ? 1e-3
                               : format == KvFormat::Q8 ? 2.0 / 255 : 2.0 / 15;
      for (std::size_t k = 0; k < caches.size(); ++k) {
        if (!indexer && k % 3 == 2) continue;
        const KvRows& h = caches[k]->host.view;
        std::vector<float> want_rows(static_cast<std::size_t>(positions * h.width));
        cpu.load_kv_rows(h, 0, positions, want_rows.data());
        DeviceArray<float> rows(gpu, want_rows.size());
        gpu.load_kv_rows(caches[k]->device.view, 0, positions, rows.data());
        EXPECT_LE(relative_max_error(rows.get(), want_rows), cache_tol) << what << " cache " << k;
      }
    }
  }
}

// The kernel timeline (bench_cuda_decode_layer's GLMQ_TIMELINE) probes every kernel while it records, in issue
// order, with ends that grow along a stream, and none once it stops.
TEST_F(CudaOps, KernelTimelineProbesEachKernelInOrder) {
  CudaBackend gpu;
  const std::int64_t count = 1 << 16;
  DeviceArray<float> a(gpu, static_cast<std::size_t>(count)), b(gpu, static_cast<std::size_t>(count));
  gpu.fill(a.data(), 1.0f, count);  // not recorded
  gpu.synchronize();
  cuda::kernel_timeline_begin(2);
  gpu.fill(b.data(), 2.0f, count);
  gpu.add(a.data(), b.data(), count);
  gpu.scale(a.data(), 0.5f, count);  // past the capacity: not probed
  cuda::kernel_timeline_end();
  gpu.fill(b.data(), 0.0f, count);
  const std::vector<cuda::KernelEnd> ends = cuda::kernel_timeline_read();
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_EQ(ends[0].kernel, "fill");
  EXPECT_EQ(ends[1].kernel, "add");
  EXPECT_EQ(ends[0].stream, 0);
  EXPECT_EQ(ends[1].stream, 0);
  EXPECT_EQ(ends[0].end_us, 0.0);  // the first end is the origin
  EXPECT_GT(ends[1].end_us, 0.0);
  EXPECT_LT(ends[1].end_us, 1e6);
  for (float v : a.get()) ASSERT_EQ(v, 1.5f);  // the probes leave the ops' results alone
}

TEST_F(CudaOps, LinearBf16PrefillWithinBf16Rounding) {
  CudaOptions options;
  options.bf16_prefill = true;
  CudaBackend gpu(options);
  for (WeightType type : {WeightType::BF16, WeightType::Affine3, WeightType::Affine4}) {
    TestWeight w = make_weight(type, 96, 512, rng);
    check_linear(gpu, cpu, w, 40, rng, 2e-2, std::string(weight_type_name(type)) + " bf16 prefill");
  }
}

TEST_F(CudaOps, NormsRopeElementwiseEmbed) {
  CudaBackend gpu;
  const std::int64_t n = 5, dim = 300;
  auto x = random_vec(static_cast<std::size_t>(n * dim), rng, 2.0f);
  auto w = random_vec(static_cast<std::size_t>(dim), rng);
  auto b = random_vec(static_cast<std::size_t>(dim), rng);
  DeviceArray<float> dx(gpu, x), dy(gpu, x.size());
  std::vector<float> want(x.size());

  cpu.rms_norm(x.data(), dim, w.data(), n, dim, 1e-5f, want.data());
  gpu.rms_norm(dx.data(), dim, w.data(), n, dim, 1e-5f, dy.data());
  EXPECT_LE(relative_max_error(dy.get(), want), 1e-5) << "rms_norm";

  // The residual add fused with the norm (the int8 decode path's one-launch version at n ≤ 8 and a dim of whole
  // blocks of 32, else the default add + rms_norm): x is the exact float sum, the norm as rms_norm's.
  for (std::int64_t rows : {n, std::int64_t{12}}) {
    for (std::int64_t width : {dim, std::int64_t{6144}}) {
      auto h = random_vec(static_cast<std::size_t>(rows * width), rng, 2.0f);
      auto r = random_vec(h.size(), rng);
      auto g = random_vec(static_cast<std::size_t>(width), rng);
      DeviceArray<float> dh(gpu, h), dr(gpu, r), dout(gpu, h.size());
      std::vector<float> out(h.size());
      gpu.forget_weights();  // g may reuse the host address of an earlier, freed norm weight the device cached
      cpu.add_rms_norm(h.data(), r.data(), g.data(), rows, width, 1e-5f, out.data());
      gpu.add_rms_norm(dh.data(), dr.data(), g.data(), rows, width, 1e-5f, dout.data());
      EXPECT_EQ(dh.get(), h) << "add_rms_norm residual rows=" << rows << " dim=" << width;
      EXPECT_LE(relative_max_error(dout.get(), out), 1e-5) << "add_rms_norm rows=" << rows << " dim=" << width;
    }
  }

  cpu.layer_norm(x.data(), w.data(), b.data(), n, dim, 1e-6f, want.data());
  gpu.layer_norm(dx.data(), w.data(), b.data(), n, dim, 1e-6f, dy.data());
  EXPECT_LE(relative_max_error(dy.get(), want), 1e-5) << "layer_norm";

  RopeSpec spec;
  for (int k = 0; k < 32; ++k) spec.inv_freq.push_back(std::pow(8e6f, -static_cast<float>(k) / 32.0f));
  std::vector<std::int32_t> pos = {0, 1, 17, 4095, 1000000};
  DeviceArray<std::int32_t> dpos(gpu, pos);
  for (bool interleaved : {true, false}) {
    spec.interleaved = interleaved;
    // 4 heads of 75 values, the 64 rope dims at offset 11.
    auto r = random_vec(static_cast<std::size_t>(n * dim), rng);
    DeviceArray<float> dr(gpu, r);
    cpu.rope(r.data(), n, dim, 4, 75, 11, pos.data(), spec);
    gpu.rope(dr.data(), n, dim, 4, 75, 11, dpos.data(), spec);
    EXPECT_LE(relative_max_error(dr.get(), r), 1e-6) << "rope interleaved=" << interleaved;
  }

  auto y = random_vec(x.size(), rng);
  DeviceArray<float> dyy(gpu, y);
  auto sum = x;
  cpu.add(sum.data(), y.data(), n * dim);
  cpu.scale(sum.data(), 0.5f, n * dim);
  gpu.copy_rows(dy.data(), dim, dx.data(), dim, n, dim);
  gpu.add(dy.data(), dyy.data(), n * dim);
  gpu.scale(dy.data(), 0.5f, n * dim);
  EXPECT_LE(relative_max_error(dy.get(), sum), 1e-7) << "copy_rows/add/scale";
  cpu.silu_mul(x.data(), y.data(), n * dim, want.data());
  gpu.silu_mul(dx.data(), dyy.data(), n * dim, dy.data());
  EXPECT_LE(relative_max_error(dy.get(), want), 1e-6) << "silu_mul";
  gpu.fill(dy.data(), 3.5f, n * dim);
  for (float v : dy.get()) ASSERT_EQ(v, 3.5f);

  for (WeightType type : {WeightType::BF16, WeightType::Affine4, WeightType::F32}) {
    TestWeight table = make_weight(type, 50, 128, rng);
    std::vector<std::int32_t> tokens = {3, 49, 0, 3};
    DeviceArray<std::int32_t> dt(gpu, tokens);
    std::vector<float> e(4 * 128);
    DeviceArray<float> de(gpu, e.size());
    cpu.embed(table.m, tokens.data(), 4, e.data());
    gpu.embed(table.m, dt.data(), 4, de.data());
    EXPECT_LE(relative_max_error(de.get(), e), 1e-7) << "embed " << weight_type_name(type);
  }
}

// Both backends attend over the same cache rows (stored by the CPU), in every format: the latent and rope
// key in one format, and a quantized latent beside a float16 rope key (--kv-rope-bits 16). Query 0 selects
// `stride` positions, the others between 1 and `stride`. Then o_proj multiplies the output, as in a layer: with
// v a multiple of 64 the int8 value expansion leaves o's int8 copy, which o_proj then reads. Returns the int8
// path's worst error.
double check_sparse_mla(CpuBackend& cpu, CudaBackend& exact, CudaBackend& int8, std::mt19937& rng,
                        std::int64_t positions, std::int64_t stride, std::initializer_list<std::int64_t> queries,
                        std::int64_t v = 24) {
  // The device caches weights by host address, which this call's weights may reuse from an earlier call's.
  exact.forget_weights();
  int8.forget_weights();
  double worst_int8 = 0;
  // R of whole column parts of the int8 path's tensor-core kernel (mla_decode_applies: a multiple of 128).
  const std::int64_t H = 8, nope = 32, rope = 16, R = 128;
  const std::pair<KvFormat, KvFormat> formats[] = {{KvFormat::F32, KvFormat::F32}, {KvFormat::F16, KvFormat::F16},
                                                   {KvFormat::Q8, KvFormat::Q8},   {KvFormat::Q4, KvFormat::Q4},
                                                   {KvFormat::Q4, KvFormat::F16}};
  for (WeightType type : {WeightType::BF16, WeightType::Affine4, WeightType::F32}) {
    // Made once per type: the device caches weights by host address, which a freed and remade weight reuses.
    TestWeight k_absorb = make_weight(type, H * R, nope, rng, 32);
    TestWeight v_expand = make_weight(type, H * v, R, rng, 32);
    TestWeight o_proj = make_weight(type, 96, H * v, rng, 32);
    for (const auto& [latent_format, rope_format] : formats) {
      const std::string what = std::string(weight_type_name(type)) + " latent " + kv_format_name(latent_format) +
                               " rope " + kv_format_name(rope_format);
      // Device arrays go through `exact`'s stream; every use on the other backend's stream is bracketed by
      // synchronisation.
      SharedKvRows latent(cpu, exact, latent_format, R, 32, random_vec(static_cast<std::size_t>(positions * R), rng));
      SharedKvRows k_rope(cpu, exact, rope_format, rope, 8, random_vec(static_cast<std::size_t>(positions * rope), rng));
      for (std::int64_t n : queries) {
        auto q = random_vec(static_cast<std::size_t>(n * H * (nope + rope)), rng);
        std::vector<std::int32_t> sel(static_cast<std::size_t>(n * stride)), count(static_cast<std::size_t>(n));
        for (std::int64_t t = 0; t < n; ++t) {
          std::vector<std::int32_t> all(positions);
          std::iota(all.begin(), all.end(), 0);
          std::shuffle(all.begin(), all.end(), rng);
          const std::int64_t c = t == 0 ? stride : 1 + static_cast<std::int64_t>(rng() % stride);
          std::sort(all.begin(), all.begin() + c);
          std::copy(all.begin(), all.begin() + c, sel.begin() + t * stride);
          count[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(c);
        }
        std::vector<float> want(static_cast<std::size_t>(n * H * v));
        MlaAttentionArgs a;
        a.n_queries = n;
        a.heads = H;
        a.nope_dim = nope;
        a.rope_dim = rope;
        a.v_dim = v;
        a.latent_dim = R;
        a.q = q.data();
        a.latent = latent.host.view;
        a.k_rope = k_rope.host.view;
        a.selection = sel.data();
        a.selection_count = count.data();
        a.selection_stride = stride;
        a.k_absorb = k_absorb.m;
        a.v_expand = v_expand.m;
        a.scale = 0.0625f;
        a.out = want.data();
        cpu.mla_attention(a);
        std::vector<float> want_proj(static_cast<std::size_t>(n * o_proj.m.rows));
        cpu.linear(o_proj.m, want.data(), n, want_proj.data());
        DeviceArray<float> dq(exact, q), dout(exact, want.size()), dproj(exact, want_proj.size());
        DeviceArray<std::int32_t> dsel(exact, sel), dcount(exact, count);
        exact.synchronize();
        MlaAttentionArgs g = a;
        g.q = dq.data();
        g.latent = latent.device.view;
        g.k_rope = k_rope.device.view;
        g.selection = dsel.data();
        g.selection_count = dcount.data();
        g.out = dout.data();
        for (CudaBackend* gpu : {&exact, &int8}) {
          const bool is_exact = gpu == &exact;
          gpu->mla_attention(g);
          gpu->linear(o_proj.m, dout.data(), n, dproj.data());
          gpu->synchronize();
          // Unless exact, decode steps (n ≤ 8) attend with bf16 tensor-core tiles (mla_decode.cu) whatever the
          // weight type, and the per-head products take int8 activations on Affine4.
          const bool int8_path = !is_exact && n <= 8;
          const double err = int8_path ? relative_norm_error(dout.get(), want) : relative_max_error(dout.get(), want);
          EXPECT_LE(err, int8_path ? kInt8ComposedTol : kExactTol) << "mla " << what << " n=" << n << (is_exact ? " exact" : "");
          const double proj_err =
              int8_path ? relative_norm_error(dproj.get(), want_proj) : relative_max_error(dproj.get(), want_proj);
          EXPECT_LE(proj_err, int8_path ? kInt8ComposedTol : kExactTol)
              << "o_proj after mla " << what << " v=" << v << " n=" << n << (is_exact ? " exact" : "");
          if (int8_path) worst_int8 = std::max({worst_int8, err, proj_err});
        }
      }
    }
  }
  return worst_int8;
}

TEST_F(CudaOps, SparseMlaAttention) {
  CudaBackend exact(exact_options()), int8;
  // A short selection (two 32-row splits of the decode kernel, mla_decode.cu; 12 queries take attention.cu's
  // tiles), and long ones that the decode kernel splits (short selections leave some splits empty).
  double worst_int8 = check_sparse_mla(cpu, exact, int8, rng, 300, 40, {1, 12});
  worst_int8 = std::max(worst_int8, check_sparse_mla(cpu, exact, int8, rng, 3000, 1500, {1, 5}));
  // Heads of 64 values: the value expansion writes o's int8 copy for o_proj (matvec_q8_quantizes_y).
  worst_int8 = std::max(worst_int8, check_sparse_mla(cpu, exact, int8, rng, 300, 40, {1, 3}, 64));
  std::printf("int8 decode path, sparse MLA (affine4 per-head products): worst relative error %.3g\n", worst_int8);
}

// Selections equal the CPU's over the same key rows, stored in `format` (groups of `group` values).
// Queries at `pos` over `positions` cached keys; key rows drawn from `distinct` random rows (0: all distinct),
// so that repeated rows give exactly tied scores.
struct IndexerCase {
  std::int64_t topk = 16, positions = 200, distinct = 0;
  std::vector<std::int32_t> pos = {3, 15, 16, 50, 120, 199, 199};
};

void check_indexer(CpuBackend& cpu, CudaBackend& gpu, KvFormat format, std::int64_t group, std::mt19937& rng,
                   const IndexerCase& c = {}) {
  const std::int64_t H = 8, D = 32, topk = c.topk, positions = c.positions;
  const std::vector<std::int32_t>& pos = c.pos;
  const auto n = static_cast<std::int64_t>(pos.size());
  const std::string what = kv_format_name(format) + " g" + std::to_string(group) + " positions " + std::to_string(positions);
  auto q = random_vec(static_cast<std::size_t>(n * H * D), rng);
  auto hw = random_vec(static_cast<std::size_t>(n * H), rng);
  auto rows = random_vec(static_cast<std::size_t>(positions * D), rng);
  if (c.distinct > 0)
    for (std::int64_t j = c.distinct; j < positions; ++j) {
      const auto from = static_cast<std::int64_t>(rng() % static_cast<std::uint32_t>(c.distinct));
      std::copy_n(rows.begin() + from * D, D, rows.begin() + j * D);
    }
  SharedKvRows keys(cpu, gpu, format, D, group, rows);
  std::vector<std::int32_t> sel(static_cast<std::size_t>(n * topk), -1), count(static_cast<std::size_t>(n));
  IndexerArgs a;
  a.n_queries = n;
  a.heads = H;
  a.head_dim = D;
  a.topk = topk;
  a.q = q.data();
  a.head_weights = hw.data();
  a.keys = keys.host.view;
  a.positions = pos.data();
  a.positions_bound = positions;
  a.scale = 1.0f / std::sqrt(static_cast<float>(D));
  a.selection = sel.data();
  a.selection_count = count.data();
  cpu.indexer_select(a);
  DeviceArray<float> dq(gpu, q), dhw(gpu, hw);
  DeviceArray<std::int32_t> dpos(gpu, pos), dsel(gpu, sel.size()), dcount(gpu, count.size());
  IndexerArgs g = a;
  g.q = dq.data();
  g.head_weights = dhw.data();
  g.keys = keys.device.view;
  g.positions = dpos.data();
  g.selection = dsel.data();
  g.selection_count = dcount.data();
  gpu.indexer_select(g);
  const auto gsel = dsel.get();
  const auto gcount = dcount.get();
  ASSERT_EQ(gcount, count) << what;
  for (std::int64_t t = 0; t < n; ++t) {
    const auto* want = sel.data() + t * topk;
    const auto* got = gsel.data() + t * topk;
    EXPECT_EQ(std::vector<std::int32_t>(got, got + count[static_cast<std::size_t>(t)]),
              std::vector<std::int32_t>(want, want + count[static_cast<std::size_t>(t)]))
        << what << " query at position " << pos[static_cast<std::size_t>(t)];
  }
}

TEST_F(CudaOps, IndexerTopkEqualsCpu) {
  CudaBackend gpu;
  for (KvFormat format : kAllKvFormats) check_indexer(cpu, gpu, format, 32, rng);
  for (KvFormat format : {KvFormat::Q8, KvFormat::Q4}) check_indexer(cpu, gpu, format, 8, rng);
  // DSA's top-2048 over contexts of one, two and three tiles of the select (8192 positions each: the first
  // kept in registers, later ones re-read), with 300 distinct key rows: many scores tie at the threshold.
  IndexerCase long_context;
  long_context.topk = 2048;
  long_context.positions = 20000;
  long_context.distinct = 300;
  long_context.pos = {2047, 2048, 4095, 8191, 8192, 12000, 19999};
  for (KvFormat format : {KvFormat::F32, KvFormat::Q8}) check_indexer(cpu, gpu, format, 32, rng, long_context);
}

}  // namespace
}  // namespace glmq::test
