#pragma once
// Activation rows prepared once for products with weights of one type, then multiplied by any rows of any matrix of
// that type and width, from any thread. This is how the backend's ops reach the kernels: linear splits one product
// over the pool; the MoE and attention ops multiply several small matrices (experts, heads) in one parallel job.
//
// Four paths, chosen per weight type (see cpu_backend.h): Int8 (q8_kernels.h), Bf16 (bf16_kernels.h), Float
// (float_kernels.h) and Reference (row_kernels.h: every weight decoded to float32, plain float dot products).
#include <cstdint>
#include <vector>

#include "backend/cpu/q8_activations.h"
#include "backend/cpu/q8_kernels.h"
#include "quant/weight_matrix.h"

namespace glmq {
// Fast: int8 activations for the GGML block types and MLX affine weights (q8_kernels.h), exact float kernels for
// F32/F16/BF16 weights (float_kernels.h: float checkpoints compute what float32 PyTorch computes, up to summation
// order). FastBf16: the same, but BF16 weights meet activations rounded to bf16 (bf16_kernels.h, as llama.cpp computes
// them). Reference: the plain decode-and-dot loops everything is tested against.
enum class CpuKernels { Fast, FastBf16, Reference };
}

namespace glmq::cpu {

class MatmulInput {
 public:
  // Takes n rows of x (w.cols floats each, `stride` apart; x must stay valid while this input is used) for products
  // with matrices of w's type and width. Nothing is computed until prepare().
  void reset(const WeightMatrix& w, const float* x, std::int64_t n, std::int64_t stride, CpuKernels kernels);
  // Rounds or reorders rows [t0, t1); disjoint ranges may be prepared on different threads.
  void prepare(std::int64_t t0, std::int64_t t1);
  void prepare_all() { prepare(0, n_); }
  // y[t·y_stride + r] = Σ_c W[r, c]·x[t, c] for rows [r0, r1) of w and tokens [t0, t1). w must have the type and
  // width given to reset(). Safe to call from several threads at once.
  void multiply(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, std::int64_t t0, std::int64_t t1, float* y,
                std::int64_t y_stride) const;

  std::int64_t tokens() const { return n_; }
  // True when products go through the reference float code (CpuKernels::Reference, or no fast kernel for the type).
  bool reference() const { return path_ == Path::Reference; }
  // Whether this input serves products with w (same path, activation format and width).
  bool serves(const WeightMatrix& w, CpuKernels kernels) const;

 private:
  enum class Path { Int8, Bf16, Float, Reference };
  static Path path_for(const WeightMatrix& w, CpuKernels kernels);
  Path path_ = Path::Reference;
  WeightType type_ = WeightType::F32;
  FastKernel kernel_{};
  Q8Rows q8_;
  std::vector<float> arranged_;
  std::vector<std::uint16_t> bf16_;
  const float* x_ = nullptr;
  std::int64_t n_ = 0, cols_ = 0, stride_ = 0;
};

}  // namespace glmq::cpu
