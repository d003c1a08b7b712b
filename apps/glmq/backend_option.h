#pragma once
// --device / --threads / --cuda-exact / --cuda-bf16-prefill: which backend a command computes on.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "backend/backend.h"

namespace glmq::cli {

struct BackendOptions {
  std::string device = "cpu";  // "cpu" or "cuda" (the first visible GPU; CUDA_VISIBLE_DEVICES picks another)
  int threads = 0;             // CPU threads (0 = all cores); the CUDA backend's host work is single-threaded
  bool cuda_exact = false;     // float32 decode kernels instead of the int8 ones (agree with the CPU to rounding)
  bool cuda_bf16_prefill = false;
};

void add_backend_options(CLI::App* cmd, BackendOptions& options);

// The backend the options name. `--device cuda` in a build without the CUDA backend, or on a machine without a
// GPU, is an InvalidArgument / Unsupported error that says so.
std::unique_ptr<Backend> make_backend(const BackendOptions& options);

// "cpu, 4 threads" / "cuda (NVIDIA H100 80GB HBM3), int8 decode" — for the summary lines commands print.
std::string describe_backend(const Backend& backend);
// CPU threads of a CPU backend, 0 for others (JSON reports).
int backend_threads(const Backend& backend);

}  // namespace glmq::cli
