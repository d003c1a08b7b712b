#pragma once
// An instantiated CUDA graph (a captured decode step), replayed with CudaBackend::replay.
#include <cuda_runtime.h>

#include <utility>

namespace glmq::cuda {

class CudaGraph {
 public:
  CudaGraph() = default;
  explicit CudaGraph(cudaGraphExec_t exec) : exec_(exec) {}
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  CudaGraph(CudaGraph&& o) noexcept : exec_(std::exchange(o.exec_, nullptr)) {}
  CudaGraph& operator=(CudaGraph&& o) noexcept {
    if (this != &o) {
      reset();
      exec_ = std::exchange(o.exec_, nullptr);
    }
    return *this;
  }
  ~CudaGraph() { reset(); }
  void reset() {
    if (exec_) cudaGraphExecDestroy(exec_);
    exec_ = nullptr;
  }
  cudaGraphExec_t get() const { return exec_; }
  explicit operator bool() const { return exec_ != nullptr; }

 private:
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace glmq::cuda
