// CudaBackend's matrix products: fused matvec for few tokens, cuBLAS for many; SwiGLU blocks.
#include <algorithm>
#include <functional>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace glmq {

using namespace cuda;

namespace {
constexpr std::int64_t kMatvecMaxTokens = kDecodeMaxTokens;
// Dequantized weight tiles are at most this many elements (256 MB as float32).
constexpr std::int64_t kTileElements = std::int64_t{64} << 20;

// y = W x for n dense rows of x and y.
MatvecArgs dense_matvec(const DeviceWeight& w, const float* x, std::int64_t n, float* y) {
  MatvecArgs a;
  a.w = w;
  a.n_tokens = n;
  a.x = x;
  a.x_token_stride = w.cols;
  a.y = y;
  a.y_token_stride = w.rows;
  return a;
}
}  // namespace

bool CudaBackend::use_q8(const DeviceWeight& w) const { return !options_.exact_decode && q8_applies(w); }

Q8View CudaBackend::q8_claim(const float* x, std::int64_t rows, std::int64_t cols) {
  static_assert(static_cast<int>(Scratch::Q8Act3) - static_cast<int>(Scratch::Q8Act0) + 1 == kQ8Cached);
  int slot = -1;
  for (int i = 0; i < kQ8Cached; ++i)
    if (q8_cache_[i].x == x) slot = i;
  if (slot < 0) {
    slot = q8_next_;
    q8_next_ = (q8_next_ + 1) % kQ8Cached;
  }
  q8_cache_[slot] = Q8Cached{x, rows, cols};
  const auto buffer = static_cast<Scratch>(static_cast<int>(Scratch::Q8Act0) + slot);
  return q8_view(scratch<std::uint8_t>(buffer, q8_bytes(rows, cols)), rows, cols);
}

Q8View CudaBackend::quantized(const float* x, std::int64_t rows, std::int64_t cols) {
  for (int i = 0; i < kQ8Cached; ++i) {
    const Q8Cached& c = q8_cache_[i];
    if (c.x == x && c.rows == rows && c.cols == cols) {
      const auto buffer = static_cast<Scratch>(static_cast<int>(Scratch::Q8Act0) + i);
      return q8_view(scratch<std::uint8_t>(buffer, q8_bytes(rows, cols), false), rows, cols);
    }
  }
  const Q8View v = q8_claim(x, rows, cols);
  launch_quantize_q8(x, rows, 1, cols, 0, cols, v, stream_);
  return v;
}

void CudaBackend::written(const void* p, std::size_t bytes) {
  const auto* lo = static_cast<const char*>(p);
  for (Q8Cached& c : q8_cache_) {
    if (!c.x) continue;
    const auto* x = reinterpret_cast<const char*>(c.x);
    if (lo < x + static_cast<std::size_t>(c.rows * c.cols) * sizeof(float) && x < lo + bytes) c = Q8Cached{};
  }
}

void CudaBackend::written_all() {
  for (Q8Cached& c : q8_cache_) c = Q8Cached{};
}

void CudaBackend::linears(std::span<const LinearTarget> targets, const float* x, std::int64_t n) {
  const bool rotated = std::ranges::any_of(targets, [](const LinearTarget& t) { return t.rope != nullptr; });
  if (n > kMatvecMaxTokens || (targets.size() < 2 && !rotated)) {
    Backend::linears(targets, x, n);
    return;
  }
  // The int8 products of one unit type and width go in one launch (q_a, kv_a and the indexer's key projection;
  // q_b and the indexer's queries): no fork and join around products of a few microseconds each. Their rope
  // dimensions are rotated in its epilogue, so no rope launch sits between q_b and the attention (q_b alone,
  // in a "shared" layer, is a batch of one for that).
  std::vector<MatvecArgs> batch;
  std::vector<RopeEpilogue> ropes;
  std::vector<const DeviceWeight*> batch_weights;
  std::vector<LinearTarget> rest;
  for (const LinearTarget& t : targets) {
    const DeviceWeight& d = weights_.matrix(*t.w);
    batch_weights.push_back(&d);
    RopeEpilogue e;
    if (t.rope) {
      e.table = rope_table(*t.rope->spec);
      if (matvec_q8_rotates(e.table, t.rope->head_stride, t.rope->offset) && d.rows == t.rope->heads * t.rope->head_stride) {
        e.positions = t.rope->positions;
        e.head_stride = t.rope->head_stride;
        e.offset = t.rope->offset;
      }
    }
    if (!use_q8(d) || !matvec_q8_batches(batch_weights.data(), batch_weights.size()) || (t.rope && !e.positions)) {
      batch_weights.pop_back();
      rest.push_back(t);
      continue;
    }
    batch.push_back(dense_matvec(d, x, n, t.y));
    ropes.push_back(e);
  }
  const bool batch_rotates = std::ranges::any_of(ropes, [](const RopeEpilogue& e) { return e.positions != nullptr; });
  if (batch.size() < 2 && !batch_rotates) batch.clear();
  if (!batch.empty()) {
    launch_matvec_q8_batch(batch.data(), batch.size(), quantized(x, n, batch[0].w.cols), sm_count_, stream_, ropes.data());
    for (const MatvecArgs& a : batch) written(a.y, static_cast<std::size_t>(n * a.w.rows) * sizeof(float));
    // Beside a batch the rest are small (a float-typed head-weight projection): they follow it in stream
    // order, where a branch's join would wait for a side stream's late start.
    for (const LinearTarget& t : rest) linear(*t.w, x, n, t.y);
    rotate_outputs(rest, n);
    return;
  }
  if (branching_ || !options_.concurrent_branches || targets.size() < 2) {
    Backend::linears(targets, x, n);
    return;
  }
  for (const LinearTarget& t : targets) {
    const DeviceWeight& d = weights_.matrix(*t.w);
    if (use_q8(d)) {
      quantized(x, n, d.cols);  // on the main stream, before the branches read it
      break;
    }
  }
  const std::size_t count = std::min<std::size_t>(targets.size(), 1 + kSideStreams);
  std::vector<std::function<void()>> branches;
  for (std::size_t b = 0; b < count; ++b)
    branches.emplace_back([&, b] {
      for (std::size_t i = b; i < targets.size(); i += count) {
        linear(*targets[i].w, x, n, targets[i].y);
        rotate_outputs(targets.subspan(i, 1), n);
      }
    });
  independent(branches);
}

void CudaBackend::linear(const WeightMatrix& w, const float* x, std::int64_t n, float* y) {
  const DeviceWeight& d = weights_.matrix(w);
  if (n <= kMatvecMaxTokens) {
    const MatvecArgs a = dense_matvec(d, x, n, y);
    if (use_q8(d)) {
      launch_matvec_q8(a, quantized(x, n, d.cols), sm_count_, stream_);
    } else {
      launch_matvec(a, sm_count_, stream_);
    }
  } else {
    gemm_linear(d, x, n, y);
  }
  written(y, static_cast<std::size_t>(n * d.rows) * sizeof(float));
}

void CudaBackend::gemm_linear(const DeviceWeight& w, const float* x, std::int64_t n, float* y) {
  const float one = 1.0f, zero = 0.0f;
  const auto rows = static_cast<int>(w.rows), cols = static_cast<int>(w.cols), tokens = static_cast<int>(n);
  // Column-major view: Yᵀ [rows × n] = W [rows × cols] (stored as colsₓrows, transposed) · Xᵀ [cols × n].
  if (w.type == WeightType::F32) {
    claim(kCublasResource);
    check(cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, rows, tokens, cols, &one, reinterpret_cast<const float*>(w.data),
                      cols, x, cols, &zero, y, rows),
          "sgemm");
    return;
  }
  const std::int64_t tile = std::clamp<std::int64_t>(kTileElements / w.cols, 1, w.rows);
  if (!options_.bf16_prefill) {
    float* wt = scratch<float>(Scratch::GemmWeights, static_cast<std::size_t>(tile * w.cols));
    for (std::int64_t r0 = 0; r0 < w.rows; r0 += tile) {
      const std::int64_t count = std::min(tile, w.rows - r0);
      launch_dequantize_f32(w, r0, count, wt, stream_);
      claim(kCublasResource);
      check(cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(count), tokens, cols, &one, wt, cols, x, cols,
                        &zero, y + r0, rows),
            "sgemm (dequantized tile)");
    }
    return;
  }
  auto* xb = scratch<std::uint16_t>(Scratch::GemmInput, static_cast<std::size_t>(n * w.cols));
  launch_to_bf16(x, n * w.cols, xb, stream_);
  auto gemm = [&](const void* a, std::int64_t r0, std::int64_t count) {
    claim(kCublasResource);
    check(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(count), tokens, cols, &one, a, CUDA_R_16BF, cols,
                       xb, CUDA_R_16BF, cols, &zero, y + r0, CUDA_R_32F, rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "bf16 gemm");
  };
  if (w.type == WeightType::BF16) {
    gemm(w.data, 0, w.rows);
    return;
  }
  auto* wt = scratch<std::uint16_t>(Scratch::GemmWeights, static_cast<std::size_t>(tile * w.cols));
  for (std::int64_t r0 = 0; r0 < w.rows; r0 += tile) {
    const std::int64_t count = std::min(tile, w.rows - r0);
    launch_dequantize_bf16(w, r0, count, wt, stream_);
    gemm(wt, r0, count);
  }
}

void CudaBackend::headwise_linear(const DeviceWeight& w, std::int64_t segments, const float* x,
                                  std::int64_t x_token_stride, std::int64_t x_segment_stride, std::int64_t n, float* y,
                                  std::int64_t y_token_stride, std::uint16_t* y_bf16, const Q8View* x_q8, bool y_q8) {
  if (n <= kMatvecMaxTokens) {
    MatvecArgs a;
    a.w = w;
    a.segments = segments;
    a.n_tokens = n;
    a.x = x;
    a.x_token_stride = x_token_stride;
    a.x_segment_stride = x_segment_stride;
    a.y = y_bf16 != nullptr ? reinterpret_cast<float*>(y_bf16) : y;
    a.y_token_stride = y_token_stride;
    if (x_q8 != nullptr) {
      if (!use_q8(w)) fail(ErrorKind::InvalidArgument, "headwise_linear given int8 activations for a float-path weight");
      if (y_q8 && y_bf16 == nullptr && matvec_q8_quantizes_y(a))
        launch_matvec_q8_quantize_y(a, *x_q8, q8_claim(y, n, w.rows), stream_);
      else
        launch_matvec_q8(a, *x_q8, sm_count_, stream_, y_bf16 != nullptr);
    } else if (use_q8(w) && matvec_q8_quantizes_x(a)) {
      // Each block quantizes its head's activations itself (the absorption's 192 values per head).
      launch_matvec_q8_quantize_x(a, stream_, y_bf16 != nullptr);
    } else if (use_q8(w)) {
      // Per-head activation rows, quantized each call (they live in the attention op's own buffers).
      const std::int64_t rows = n * segments;
      const Q8View xq = q8_view(scratch<std::uint8_t>(Scratch::Q8Headwise, q8_bytes(rows, w.cols)), rows, w.cols);
      launch_quantize_q8(x, n, segments, x_token_stride, x_segment_stride, w.cols, xq, stream_);
      launch_matvec_q8(a, xq, sm_count_, stream_, y_bf16 != nullptr);
    } else {
      launch_matvec(a, sm_count_, stream_, y_bf16 != nullptr);
    }
    return;
  }
  if (y_bf16 != nullptr || x_q8 != nullptr)
    fail(ErrorKind::InvalidArgument, "headwise_linear takes int8 inputs and writes bf16 only for decode-sized products");
  // Batched over segments: Y_s [rps × n] = W_s [rps × cols] · X_s [cols × n], column-major.
  const float* wf = reinterpret_cast<const float*>(w.data);
  if (w.type != WeightType::F32) {
    float* wt = scratch<float>(Scratch::HeadwiseWeights, static_cast<std::size_t>(w.rows * w.cols));
    launch_dequantize_f32(w, 0, w.rows, wt, stream_);
    wf = wt;
  }
  const std::int64_t rps = w.rows / segments;
  const float one = 1.0f, zero = 0.0f;
  claim(kCublasResource);
  check(cublasSgemmStridedBatched(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rps), static_cast<int>(n),
                                  static_cast<int>(w.cols), &one, wf, static_cast<int>(w.cols), rps * w.cols, x,
                                  static_cast<int>(x_token_stride), x_segment_stride, &zero, y,
                                  static_cast<int>(y_token_stride), rps, static_cast<int>(segments)),
        "batched per-head sgemm");
}

bool CudaBackend::swiglu_q8(const SwigluWeights& w, const float* x, std::int64_t n, float* out, Scratch hidden) {
  if (n > kMatvecMaxTokens || options_.exact_decode) return false;
  GroupedSwigluQ8Args q;
  q.table = weights_.swiglu_table(&w, 1, q.probe);
  if (!swiglu_q8_applies(q.probe, 1)) return false;
  q.n_tokens = n;
  q.n_slots = n;
  q.top_k = 1;
  q.x = quantized(x, n, q.probe.gate.cols);
  const std::int64_t inter = q.probe.gate.rows;
  q.h = q8_view(scratch<std::uint8_t>(hidden, q8_bytes(n, inter)), n, inter);
  q.out = out;
  q.accumulate = false;
  launch_grouped_gate_up_q8(q, stream_);
  launch_grouped_down_q8(q, sm_count_, stream_);
  written(out, static_cast<std::size_t>(n * q.probe.down.rows) * sizeof(float));
  return true;
}

void CudaBackend::swiglu(const SwigluWeights& w, const float* x, std::int64_t n, float* out) {
  if (swiglu_q8(w, x, n, out, Scratch::Q8Hidden)) return;
  if (n <= kMatvecMaxTokens) {
    GroupedSwigluArgs a;
    a.table = weights_.swiglu_table(&w, 1, a.probe);
    a.n_slots = n;
    a.x = x;
    a.h = scratch<float>(Scratch::SwigluHidden, static_cast<std::size_t>(n * w.gate.rows));
    a.y = out;
    launch_grouped_swiglu(a, sm_count_, stream_);
    written(out, static_cast<std::size_t>(n * w.down.rows) * sizeof(float));
    return;
  }
  const auto width = static_cast<std::size_t>(n * w.gate.rows);
  float* g = scratch<float>(Scratch::SwigluGate, width);
  float* u = scratch<float>(Scratch::SwigluUp, width);
  linear(w.gate, x, n, g);
  linear(w.up, x, n, u);
  launch_silu_mul(g, u, static_cast<std::int64_t>(width), g, stream_);
  linear(w.down, g, n, out);  // linear reports `out` written
}

}  // namespace glmq
