#include "backend/cpu/matmul_input.h"

#include "backend/cpu/bf16_kernels.h"
#include "backend/cpu/float_kernels.h"
#include "backend/cpu/row_kernels.h"

namespace glmq::cpu {

MatmulInput::Path MatmulInput::path_for(const WeightMatrix& w, CpuKernels kernels) {
  if (kernels == CpuKernels::Reference) return Path::Reference;
  if (fast_kernel_for(w)) return Path::Int8;
  if (kernels == CpuKernels::FastBf16 && has_bf16_kernel(w)) return Path::Bf16;
  if (has_float_kernel(w)) return Path::Float;
  return Path::Reference;
}

bool MatmulInput::serves(const WeightMatrix& w, CpuKernels kernels) const {
  if (w.cols != cols_ || path_for(w, kernels) != path_) return false;
  switch (path_) {
    case Path::Int8: return fast_kernel_for(w)->kernel == kernel_.kernel;
    case Path::Bf16:
    case Path::Float: return w.type == type_;
    case Path::Reference: return true;
  }
  return false;
}

void MatmulInput::reset(const WeightMatrix& w, const float* x, std::int64_t n, std::int64_t stride, CpuKernels kernels) {
  path_ = path_for(w, kernels);
  type_ = w.type;
  x_ = x;
  n_ = n;
  cols_ = w.cols;
  stride_ = stride;
  if (path_ == Path::Int8) {
    kernel_ = *fast_kernel_for(w);
    prepare_q8(n, cols_, kernel_.format, q8_);
  } else if (path_ == Path::Bf16) {
    const auto size = static_cast<std::size_t>(n * bf16_acts_width(cols_));
    if (bf16_.size() < size) bf16_.resize(size);
  } else if (path_ == Path::Float) {
    const auto size = static_cast<std::size_t>(n * float_acts_width(cols_));
    if (arranged_.size() < size) arranged_.resize(size);
  }
}

void MatmulInput::prepare(std::int64_t t0, std::int64_t t1) {
  if (path_ == Path::Int8) {
    quantize_q8_rows(x_, stride_, t0, t1, q8_);
  } else if (path_ == Path::Bf16) {
    round_bf16_acts(x_, cols_, stride_, t0, t1, bf16_.data());
  } else if (path_ == Path::Float) {
    arrange_float_acts(x_, cols_, stride_, t0, t1, arranged_.data());
  }
}

void MatmulInput::multiply(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, std::int64_t t0, std::int64_t t1,
                           float* y, std::int64_t y_stride) const {
  switch (path_) {
    case Path::Int8: kernel_.kernel(w, r0, r1, q8_, t0, t1, y, y_stride); return;
    case Path::Bf16: bf16_rows(w, r0, r1, bf16_.data(), t0, t1, y, y_stride); return;
    case Path::Float: float_rows(w, r0, r1, arranged_.data(), t0, t1, y, y_stride); return;
    case Path::Reference:
      for (std::int64_t t = t0; t < t1; ++t)
        for (std::int64_t r = r0; r < r1; ++r) y[t * y_stride + r] = dot_row(w, r, x_ + t * stride_);
      return;
  }
}

}  // namespace glmq::cpu
