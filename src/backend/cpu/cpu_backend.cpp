#include "backend/cpu/cpu_backend.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "backend/cpu/row_kernels.h"
#include "backend/cpu/work_split.h"
#include "core/error.h"

namespace glmq {

namespace {
// Up to this many (token, expert) pairs, SwiGLU blocks run as ffn_few_tokens' two jobs: decode steps and small
// batches. Beyond it each expert's tokens are one matrix product per projection (weights read once per expert).
constexpr std::int64_t kFewTokens = 32;
}  // namespace

CpuKernels default_cpu_kernels() {
  const char* v = std::getenv("GLMQ_CPU_KERNELS");
  if (v && std::string_view(v) == "reference") return CpuKernels::Reference;
  if (v && std::string_view(v) == "fast-bf16") return CpuKernels::FastBf16;
  return CpuKernels::Fast;
}

CpuBackend::CpuBackend(int threads, CpuKernels kernels)
    : threads_(threads > 0 ? threads : omp_get_max_threads()),
      kernels_(kernels),
      pool_(std::make_unique<cpu::WorkPool>(threads_)) {}

std::vector<float>& CpuBackend::scratch(ScratchSlot slot, std::size_t count) {
  // Fixed slots: growing one never moves another, so callers may hold several at once.
  auto& v = scratch_[static_cast<std::size_t>(slot)];
  if (v.size() < count) v.resize(count);
  return v;
}

void* CpuBackend::alloc(std::size_t bytes) {
  // 64-byte alignment keeps SIMD loads within cache lines; round up so aligned_alloc accepts the size.
  const std::size_t size = std::max<std::size_t>((bytes + 63) / 64 * 64, 64);
  void* p = std::aligned_alloc(64, size);
  if (!p) fail(ErrorKind::Capacity, "cannot allocate " + std::to_string(bytes) + " bytes of host memory");
  return p;
}

void CpuBackend::release(void* p) { std::free(p); }

void CpuBackend::upload(void* dst, const void* host_src, std::size_t bytes) {
  if (bytes) std::memcpy(dst, host_src, bytes);
}

void CpuBackend::download(void* host_dst, const void* src, std::size_t bytes) {
  if (bytes) std::memcpy(host_dst, src, bytes);
}

void CpuBackend::copy_rows(float* dst, std::int64_t dst_stride, const float* src, std::int64_t src_stride, std::int64_t n,
                           std::int64_t width) {
  for (std::int64_t r = 0; r < n; ++r)
    std::memcpy(dst + r * dst_stride, src + r * src_stride, static_cast<std::size_t>(width) * sizeof(float));
}

void CpuBackend::fill(float* x, float value, std::int64_t count) { std::fill(x, x + count, value); }

void CpuBackend::embed(const WeightMatrix& table, const std::int32_t* tokens, std::int64_t n, float* out) {
  for (std::int64_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= table.rows)
      fail(ErrorKind::InvalidArgument, "token id " + std::to_string(tokens[t]) + " outside the vocabulary of " +
                                           std::to_string(table.rows));
    cpu::row_to_f32(table, tokens[t], out + t * table.cols);
  }
}

void CpuBackend::rms_norm(const float* x, std::int64_t x_stride, const float* w, std::int64_t n, std::int64_t dim,
                          float eps, float* y) {
  for (std::int64_t t = 0; t < n; ++t) {
    const float* xr = x + t * x_stride;
    float* yr = y + t * dim;
    // The sum of squares in double, in vector lanes (the lanes' order of additions changes it only in the last bits
    // of a double, far below the float it is rounded to).
    double ss = 0.0;
#pragma omp simd reduction(+ : ss)
    for (std::int64_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(dim) + eps));
#pragma omp simd
    for (std::int64_t i = 0; i < dim; ++i) yr[i] = w[i] * (xr[i] * inv);
  }
}

void CpuBackend::layer_norm(const float* x, const float* w, const float* b, std::int64_t n, std::int64_t dim, float eps,
                            float* y) {
  for (std::int64_t t = 0; t < n; ++t) {
    const float* xr = x + t * dim;
    float* yr = y + t * dim;
    double mean = 0.0;
    for (std::int64_t i = 0; i < dim; ++i) mean += xr[i];
    mean /= static_cast<double>(dim);
    double var = 0.0;
    for (std::int64_t i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= static_cast<double>(dim);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (std::int64_t i = 0; i < dim; ++i) yr[i] = static_cast<float>((xr[i] - mean) * inv) * w[i] + b[i];
  }
}

void CpuBackend::rope(float* x, std::int64_t n, std::int64_t row_stride, std::int64_t heads, std::int64_t head_stride,
                      std::int64_t offset, const std::int32_t* positions, const RopeSpec& spec) {
  const auto half = static_cast<std::int64_t>(spec.inv_freq.size());
  auto& cs = scratch(ScratchSlot::RopeTable, static_cast<std::size_t>(2 * half));
  for (std::int64_t t = 0; t < n; ++t) {
    // The angle is rounded to float32 as HF computes it: the models were trained with exactly these
    // angles, and DSA's top-k near-ties flip when q/k drift by even 1e-5.
    for (std::int64_t k = 0; k < half; ++k) {
      const float angle = static_cast<float>(positions[t]) * spec.inv_freq[static_cast<std::size_t>(k)];
      cs[static_cast<std::size_t>(k)] = static_cast<float>(std::cos(static_cast<double>(angle))) * spec.attention_factor;
      cs[static_cast<std::size_t>(half + k)] = static_cast<float>(std::sin(static_cast<double>(angle))) * spec.attention_factor;
    }
    for (std::int64_t h = 0; h < heads; ++h) {
      float* v = x + t * row_stride + h * head_stride + offset;
      for (std::int64_t k = 0; k < half; ++k) {
        const std::int64_t i0 = spec.interleaved ? 2 * k : k;
        const std::int64_t i1 = spec.interleaved ? 2 * k + 1 : k + half;
        const float c = cs[static_cast<std::size_t>(k)], s = cs[static_cast<std::size_t>(half + k)];
        const float a = v[i0], b = v[i1];
        v[i0] = a * c - b * s;
        v[i1] = b * c + a * s;
      }
    }
  }
}

void CpuBackend::add(float* x, const float* y, std::int64_t count) {
#pragma omp simd
  for (std::int64_t i = 0; i < count; ++i) x[i] += y[i];
}

void CpuBackend::scale(float* x, float s, std::int64_t count) {
#pragma omp simd
  for (std::int64_t i = 0; i < count; ++i) x[i] *= s;
}

void CpuBackend::silu_mul(const float* gate, const float* up, std::int64_t count, float* out) {
  constexpr std::int64_t kPer = 1 << 14;
  pool_->run((count + kPer - 1) / kPer, [&](std::int64_t c) {
    for (std::int64_t i = c * kPer; i < std::min(count, (c + 1) * kPer); ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
  });
}

void CpuBackend::swiglu(const SwigluWeights& w, const float* x, std::int64_t n, float* out) {
  if (kernels_ != CpuKernels::Reference && !observer_ && n <= kFewTokens) {
    ffn_items_.clear();
    for (std::int64_t t = 0; t < n; ++t) ffn_items_.push_back({&w, t, 1.0f});
    if (ffn_few_tokens(ffn_items_, x, n, out, false)) return;
  }
  const auto width = static_cast<std::size_t>(w.gate.rows);
  auto& g = scratch(ScratchSlot::Gate, width * static_cast<std::size_t>(n));
  auto& u = scratch(ScratchSlot::Up, width * static_cast<std::size_t>(n));
  if (!gate_and_up(w, x, n, g.data(), u.data())) {
    linear(w.gate, x, n, g.data());
    linear(w.up, x, n, u.data());
  }
  silu_mul(g.data(), u.data(), static_cast<std::int64_t>(width) * n, g.data());
  linear(w.down, g.data(), n, out);
}

bool CpuBackend::gate_and_up(const SwigluWeights& w, const float* x, std::int64_t n, float* g, float* u) {
  if (kernels_ == CpuKernels::Reference || observer_ || w.up.rows != w.gate.rows) return false;
  input_.reset(w.gate, x, n, w.gate.cols, kernels_);
  if (input_.reference() || !input_.serves(w.up, kernels_)) return false;
  // Both products share the rounded input, and one job covers the rows of both (gate's, then up's).
  cpu::for_token_ranges(*pool_, n, w.gate.cols, [&](std::int64_t t0, std::int64_t t1) { input_.prepare(t0, t1); });
  const std::int64_t rows = w.gate.rows;
  const cpu::Split s(2 * rows, w.gate.cols, n);
  auto body = [&](std::int64_t r0, std::int64_t r1, std::int64_t t0, std::int64_t t1) {
    if (r0 < rows) input_.multiply(w.gate, r0, std::min(r1, rows), t0, t1, g, rows);
    if (r1 > rows) input_.multiply(w.up, std::max(r0, rows) - rows, r1 - rows, t0, t1, u, rows);
  };
  pool_->run(s.chunks(), [&](std::int64_t c) { s.run_chunk(c, body); });
  return true;
}

void CpuBackend::moe_experts(const MoeExpertsArgs& a) {
  const std::int64_t hidden = a.expert_weights[0].gate.cols;
  // Group the (token, slot) pairs by expert so each expert's weights are read once per call.
  std::vector<std::vector<std::int64_t>> by_expert(static_cast<std::size_t>(a.n_experts));
  for (std::int64_t i = 0; i < a.n_tokens * a.top_k; ++i) {
    std::int32_t e = a.experts[i];
    if (e < 0 || e >= a.n_experts) fail(ErrorKind::InvalidArgument, "routed expert id " + std::to_string(e) + " out of range");
    by_expert[static_cast<std::size_t>(e)].push_back(i);
  }
  if (kernels_ != CpuKernels::Reference && !observer_ && a.n_tokens * a.top_k <= kFewTokens) {
    // By expert, then slot: each token's experts are summed in the order the per-expert path below uses.
    ffn_items_.clear();
    for (std::int64_t e = 0; e < a.n_experts; ++e)
      for (std::int64_t i : by_expert[static_cast<std::size_t>(e)]) ffn_items_.push_back({&a.expert_weights[e], i / a.top_k, a.weights[i]});
    if (ffn_few_tokens(ffn_items_, a.x, a.n_tokens, a.out, true)) return;
  }
  for (std::int64_t e = 0; e < a.n_experts; ++e) {
    const auto& slots = by_expert[static_cast<std::size_t>(e)];
    if (slots.empty()) continue;
    const auto m = static_cast<std::int64_t>(slots.size());
    auto& in = scratch(ScratchSlot::ExpertIn, static_cast<std::size_t>(m * hidden));
    auto& res = scratch(ScratchSlot::ExpertOut, static_cast<std::size_t>(m * hidden));
    for (std::int64_t r = 0; r < m; ++r)
      std::memcpy(in.data() + r * hidden, a.x + (slots[static_cast<std::size_t>(r)] / a.top_k) * hidden,
                  static_cast<std::size_t>(hidden) * sizeof(float));
    swiglu(a.expert_weights[e], in.data(), m, res.data());
    for (std::int64_t r = 0; r < m; ++r) {
      const std::int64_t slot = slots[static_cast<std::size_t>(r)];
      cpu::axpy_f32(a.weights[slot], res.data() + r * hidden, a.out + (slot / a.top_k) * hidden, hidden);
    }
  }
}

}  // namespace glmq
