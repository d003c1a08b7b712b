#pragma once
// Helpers for CUDA-vs-CPU tests: random data, weights in every stored type, device arrays.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_backend.h"
#include "core/float_convert.h"
#include "quant/mlx_affine.h"

namespace glmq::test {

#define GLMQ_REQUIRE_CUDA() \
  if (!CudaBackend::available()) GTEST_SKIP() << "no CUDA device"

inline std::vector<float> random_vec(std::size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// A weight in `type` whose bytes stay alive as long as the object (device caches key on their address).
struct TestWeight {
  std::vector<std::uint8_t> bytes, scales, biases;
  WeightMatrix m;
};

inline TestWeight make_weight(WeightType type, std::int64_t rows, std::int64_t cols, std::mt19937& rng,
                              std::int64_t group = 64) {
  TestWeight w;
  auto v = random_vec(static_cast<std::size_t>(rows * cols), rng, 0.2f);
  if (is_affine(type)) {
    AffineQuantized q = quantize_affine(v.data(), rows, cols, affine_bits(type), group, WeightType::BF16);
    w.bytes = std::move(q.codes);
    w.scales = std::move(q.scales);
    w.biases = std::move(q.biases);
    w.m = WeightMatrix{type, rows, cols, w.bytes.data(), w.scales.data(), w.biases.data(), WeightType::BF16, group};
    return w;
  }
  w.bytes.resize(weight_row_bytes(type, static_cast<std::size_t>(cols)) * static_cast<std::size_t>(rows));
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (type == WeightType::F32) {
      std::memcpy(w.bytes.data() + 4 * i, &v[i], 4);
    } else {
      const std::uint16_t h = type == WeightType::BF16 ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
      std::memcpy(w.bytes.data() + 2 * i, &h, 2);
    }
  }
  w.m = WeightMatrix{type, rows, cols, w.bytes.data()};
  return w;
}

// An array in device memory, filled from a host vector.
template <typename T>
class DeviceArray {
 public:
  DeviceArray(Backend& be, const std::vector<T>& host) : be_(be), n_(host.size()) {
    p_ = static_cast<T*>(be.alloc(n_ * sizeof(T)));
    be.upload(p_, host.data(), n_ * sizeof(T));
  }
  DeviceArray(Backend& be, std::size_t n) : DeviceArray(be, std::vector<T>(n)) {}
  ~DeviceArray() { be_.release(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* data() { return p_; }
  std::vector<T> get() const {
    std::vector<T> h(n_);
    be_.download(h.data(), p_, n_ * sizeof(T));
    return h;
  }

 private:
  Backend& be_;
  std::size_t n_;
  T* p_;
};

// max |a − b| / max(max |b|, 1e-30): the error relative to the reference's scale.
inline double relative_max_error(const std::vector<float>& a, const std::vector<float>& b) {
  double err = 0, scale = 1e-30;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    err = std::max(err, static_cast<double>(std::fabs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  }
  return err / scale;
}

// ‖a − b‖ / ‖b‖ (Euclidean): the error measure of the int8 decode path, whose per-element errors are
// rounding noise rather than a bound.
inline double relative_norm_error(const std::vector<float>& a, const std::vector<float>& b) {
  double err = 0, ref = 1e-300;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    err += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    ref += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(err / ref);
}

// Tolerances against the CPU reference: the exact float kernels (CudaOptions::exact_decode) agree with it to
// float rounding (2e-5 of the largest reference value); the default int8 decode path (activations rounded to
// int8 per block of 32) is held to ‖out − ref‖ / ‖ref‖ ≤ 1e-2 for one product and 3e-2 for composed ops
// (SwiGLU, MoE, attention).
constexpr double kExactTol = 2e-5, kInt8Tol = 1e-2, kInt8ComposedTol = 3e-2;

inline CudaOptions exact_options() {
  CudaOptions o;
  o.exact_decode = true;
  return o;
}

// CUDA ops against the CPU reference backend (test_cuda_ops.cpp, test_cuda_moe.cpp); skips without a device.
class CudaOps : public ::testing::Test {
 protected:
  void SetUp() override { GLMQ_REQUIRE_CUDA(); }
  CpuBackend cpu{1, CpuKernels::Reference};
  std::mt19937 rng{7};
};

// E experts' SwiGLU weights: gate and up [inter × hidden] of one type, down [hidden × inter] of another, each
// made by make(type, rows, cols); `store` owns their bytes.
struct TestExperts {
  std::vector<TestWeight> store;
  std::vector<SwigluWeights> experts;
};
template <typename Make>
TestExperts make_experts(std::int64_t E, WeightType gate_up_type, WeightType down_type, std::int64_t inter,
                         std::int64_t hidden, Make&& make) {
  TestExperts t;
  t.experts.resize(static_cast<std::size_t>(E));
  t.store.reserve(static_cast<std::size_t>(3 * E));
  for (SwigluWeights& e : t.experts) {
    t.store.push_back(make(gate_up_type, inter, hidden));
    e.gate = t.store.back().m;
    t.store.push_back(make(gate_up_type, inter, hidden));
    e.up = t.store.back().m;
    t.store.push_back(make(down_type, hidden, inter));
    e.down = t.store.back().m;
  }
  return t;
}
// The same with make_weight's MLX affine or float weights.
inline TestExperts make_experts(std::int64_t E, WeightType gate_up_type, WeightType down_type, std::int64_t inter,
                                std::int64_t hidden, std::mt19937& rng) {
  return make_experts(E, gate_up_type, down_type, inter, hidden,
                      [&](WeightType type, std::int64_t rows, std::int64_t cols) { return make_weight(type, rows, cols, rng); });
}

// The routed experts of n tokens (top_k slots each: ids, weights) adding into out.
inline MoeExpertsArgs moe_experts_args(std::int64_t n, std::int64_t top_k, const float* x, const std::int32_t* ids,
                                       const float* weights, const SwigluWeights* experts, std::int64_t n_experts,
                                       float* out) {
  MoeExpertsArgs a;
  a.n_tokens = n;
  a.top_k = top_k;
  a.x = x;
  a.experts = ids;
  a.weights = weights;
  a.expert_weights = experts;
  a.n_experts = n_experts;
  a.out = out;
  return a;
}

// The same experts on device copies of the activations, routing and output.
inline MoeExpertsArgs on_device(MoeExpertsArgs a, const float* x, const std::int32_t* ids, const float* weights, float* out) {
  a.x = x;
  a.experts = ids;
  a.weights = weights;
  a.out = out;
  return a;
}

}  // namespace glmq::test
