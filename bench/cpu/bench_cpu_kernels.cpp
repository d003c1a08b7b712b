// Matrix-product throughput of the CPU backend per weight type: the fast kernels against the reference path, for
// one token (decode: weight bytes per second matter) and many (prefill: multiply-adds per second matter).
//
//   bench_cpu_kernels [--threads N] [--rows R] [--cols C] [--tokens 1,64,512] [--seconds S] [--reference] [--cpu-time]
//                     [--types Q4_K,Q6_K] [--group 64]
//
// MLX affine types get bf16 scales and biases per group of --group inputs (default 64, as GLM-5.2's MLX builds).
//
// --types times only the listed types: with many rows (e.g. --rows 262144 --cols 2048, 300 MB of Q4_K) the matrix no
// longer fits in the caches and one-token products show how close a kernel streams its weights to the memory bandwidth.
//
// BF16 is timed twice: on the exact float kernels (CpuKernels::Fast) and, as "BF16-acts", with its activations rounded
// to bf16 (CpuKernels::FastBf16, vdpbf16ps).
//
// Weights are random codes with small random scales (speed only). Each measurement repeats the product for at least
// S seconds (default 0.3) and reports the fastest of three such runs.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "core/float_convert.h"
#include "quant/weight_type.h"

namespace glmq {
namespace {

std::vector<std::uint8_t> random_weights(WeightType type, std::int64_t rows, std::int64_t cols, std::mt19937& rng) {
  std::vector<std::uint8_t> bytes(weight_row_bytes(type, static_cast<std::size_t>(cols)) * static_cast<std::size_t>(rows));
  std::uniform_real_distribution<float> value(-0.05f, 0.05f);
  if (is_float_type(type)) {
    for (std::size_t i = 0; i < bytes.size() / (type == WeightType::F32 ? 4 : 2); ++i) {
      const float v = value(rng);
      if (type == WeightType::F32) std::memcpy(bytes.data() + 4 * i, &v, 4);
      else {
        const std::uint16_t h = type == WeightType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
    }
    return bytes;
  }
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  if (is_affine(type)) return bytes;  // codes only; the caller adds scales and biases
  std::vector<std::size_t> f16_fields = {0};
  if (type == WeightType::Q4_K || type == WeightType::Q5_K) f16_fields = {0, 2};
  if (type == WeightType::Q6_K) f16_fields = {208};
  if (type == WeightType::Q2_K) f16_fields = {80, 82};
  if (type == WeightType::Q3_K) f16_fields = {108};
  for (std::size_t at = 0; at < bytes.size(); at += weight_block_bytes(type))
    for (std::size_t f : f16_fields) {
      const std::uint16_t h = f32_to_f16(value(rng) * 0.01f);
      std::memcpy(bytes.data() + at + f, &h, 2);
    }
  return bytes;
}

// Wall-clock seconds, or with --cpu-time this thread's CPU seconds: on a machine shared with other work, the time
// the kernel actually ran (meaningful with --threads 1 only).
bool g_cpu_time = false;
double now_seconds() {
  if (g_cpu_time) {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double seconds_per_product(CpuBackend& be, const WeightMatrix& w, const float* x, std::int64_t n, float* y, double min_seconds) {
  be.linear(w, x, n, y);  // warm caches and the pool
  double best = 1e30;
  for (int run = 0; run < 3; ++run) {
    const double start = now_seconds();
    std::int64_t reps = 0;
    double elapsed = 0;
    do {
      be.linear(w, x, n, y);
      ++reps;
      elapsed = now_seconds() - start;
    } while (elapsed < min_seconds);
    best = std::min(best, elapsed / static_cast<double>(reps));
  }
  return best;
}

}  // namespace
}  // namespace glmq

int main(int argc, char** argv) {
  using namespace glmq;
  int threads = 1;
  std::int64_t rows = 2048, cols = 2048, group = 64;
  std::vector<std::int64_t> tokens = {1, 64};
  double min_seconds = 0.3;
  bool reference = false;
  std::vector<WeightType> types = {WeightType::BF16, WeightType::F32, WeightType::Q8_0, WeightType::Q2_K, WeightType::Q3_K,
                                   WeightType::Q4_K, WeightType::Q5_K, WeightType::Q6_K, WeightType::IQ4_NL, WeightType::IQ4_XS,
                                   WeightType::IQ2_XXS, WeightType::IQ2_S, WeightType::IQ3_S, WeightType::Affine2,
                                   WeightType::Affine3, WeightType::Affine4, WeightType::Affine5, WeightType::Affine6,
                                   WeightType::Affine8};
  auto split_list = [](const std::string& list) {
    std::vector<std::string> out;
    for (std::size_t p = 0; p < list.size();) {
      const std::size_t q = list.find(',', p);
      out.push_back(list.substr(p, q - p));
      p = q == std::string::npos ? list.size() : q + 1;
    }
    return out;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--rows") rows = std::atoll(next().c_str());
    else if (a == "--cols") cols = std::atoll(next().c_str());
    else if (a == "--group") group = std::atoll(next().c_str());
    else if (a == "--seconds") min_seconds = std::atof(next().c_str());
    else if (a == "--reference") reference = true;
    else if (a == "--cpu-time") g_cpu_time = true;
    else if (a == "--tokens") {
      tokens.clear();
      for (const std::string& t : split_list(next())) tokens.push_back(std::atoll(t.c_str()));
    } else if (a == "--types") {
      types.clear();
      for (const std::string& t : split_list(next())) {
        const auto type = weight_type_from_name(t);
        if (!type) {
          std::fprintf(stderr, "unknown weight type %s\n", t.c_str());
          return 2;
        }
        types.push_back(*type);
      }
    } else {
      std::fprintf(stderr, "usage: %s [--threads N] [--rows R] [--cols C] [--tokens 1,64] [--seconds S] [--reference] [--cpu-time] [--types A,B] [--group G]\n", argv[0]);
      return 2;
    }
  }
  std::mt19937 rng(1);
  CpuBackend fast(threads, CpuKernels::Fast), fast_bf16(threads, CpuKernels::FastBf16), ref(threads, CpuKernels::Reference);
  std::printf("%lld × %lld, %d thread(s)\n\n| type | tokens |%s fast GMAC/s | fast weight GB/s |\n|---|---|%s---|---|\n",
              static_cast<long long>(rows), static_cast<long long>(cols), threads, reference ? " reference GMAC/s |" : "",
              reference ? "---|" : "");
  for (WeightType type : types) {
    const auto bytes = random_weights(type, rows, cols, rng);
    WeightMatrix w{type, rows, cols, bytes.data()};
    std::vector<std::uint8_t> scales, biases;
    if (is_affine(type)) {  // bf16 scales and biases per group of `group` (MLX's usual layout)
      scales = random_weights(WeightType::BF16, rows, cols / group, rng);
      biases = random_weights(WeightType::BF16, rows, cols / group, rng);
      w = WeightMatrix{type, rows, cols, bytes.data(), scales.data(), biases.data(), WeightType::BF16, group};
    }
    for (std::int64_t n : tokens) {
      std::vector<float> x(static_cast<std::size_t>(n * cols)), y(static_cast<std::size_t>(n * rows));
      std::normal_distribution<float> d(0.0f, 1.0f);
      for (auto& v : x) v = d(rng);
      const double macs = static_cast<double>(rows * cols * n);
      const double tf = seconds_per_product(fast, w, x.data(), n, y.data(), min_seconds);
      std::printf("| %s | %lld |", std::string(weight_type_name(type)).c_str(), static_cast<long long>(n));
      if (reference) std::printf(" %.2f |", macs / seconds_per_product(ref, w, x.data(), n, y.data(), min_seconds) * 1e-9);
      std::printf(" %.2f | %.2f |\n", macs / tf * 1e-9, static_cast<double>(w.bytes()) / tf * 1e-9);
      if (type == WeightType::BF16) {  // and with the activations rounded to bf16 (CpuKernels::FastBf16)
        const double tb = seconds_per_product(fast_bf16, w, x.data(), n, y.data(), min_seconds);
        std::printf("| BF16-acts | %lld |%s %.2f | %.2f |\n", static_cast<long long>(n), reference ? " |" : "",
                    macs / tb * 1e-9, static_cast<double>(w.bytes()) / tb * 1e-9);
      }
    }
  }
  return 0;
}
