#pragma once
// Turns CUDA runtime and cuBLAS failures into glmq errors naming the call site.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "core/error.h"

namespace glmq::cuda {

inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    fail(ErrorKind::Device, std::string("CUDA: ") + what + ": " + cudaGetErrorString(status));
}

inline void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    fail(ErrorKind::Device, std::string("cuBLAS: ") + what + ": " + cublasGetStatusString(status));
}

// After a kernel launch: reports launch-configuration errors without synchronising.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace glmq::cuda
