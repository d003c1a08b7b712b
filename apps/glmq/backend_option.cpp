#include "apps/glmq/backend_option.h"

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#ifdef GLMQ_HAVE_CUDA
#include <cuda_runtime.h>

#include "backend/cuda/cuda_backend.h"
#endif

namespace glmq::cli {

namespace {
// Why `device` cannot be used here, or "" — checked while parsing, so that a bad --device fails before a
// model of hundreds of gigabytes is loaded.
std::string device_problem(const std::string& device) {
  if (device == "cpu") return "";
  if (device != "cuda") return "expected cpu or cuda, got '" + device + "'";
#ifdef GLMQ_HAVE_CUDA
  if (!CudaBackend::available()) return "no CUDA device is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES)";
  return "";
#else
  return "this glmq was built without the CUDA backend (configure with -DGLMQ_CUDA=ON where nvcc exists)";
#endif
}
}  // namespace

void add_backend_options(CLI::App* cmd, BackendOptions& options) {
  cmd->add_option("--device", options.device,
                  "Compute on: cpu (default) or cuda (first visible GPU; needs a build with -DGLMQ_CUDA=ON)")
      ->check(CLI::Validator([](std::string& device) { return device_problem(device); }, "cpu|cuda", "device"))
      ->capture_default_str();
  cmd->add_option("--threads", options.threads, "CPU threads (default: all cores)");
  cmd->add_flag("--cuda-exact", options.cuda_exact,
                "CUDA: float32 kernels for decode-sized products of quantized weights instead of the int8 ones "
                "(slower; agree with the CPU to float rounding)");
  cmd->add_flag("--cuda-bf16-prefill", options.cuda_bf16_prefill,
                "CUDA: prefill products on bf16 tensor cores (activations rounded to bf16) instead of float32");
}

std::unique_ptr<Backend> make_backend(const BackendOptions& options) {
  if (const std::string problem = device_problem(options.device); !problem.empty())
    fail(ErrorKind::Device, "--device " + options.device + ": " + problem);
  if (options.device == "cpu") return std::make_unique<CpuBackend>(options.threads);
#ifdef GLMQ_HAVE_CUDA
  CudaOptions cuda;
  cuda.exact_decode = options.cuda_exact;
  cuda.bf16_prefill = options.cuda_bf16_prefill;
  return std::make_unique<CudaBackend>(cuda);
#else
  fail(ErrorKind::Device, "--device " + options.device + ": unreachable without the CUDA backend");
#endif
}

std::string describe_backend(const Backend& backend) {
  if (const auto* cpu = dynamic_cast<const CpuBackend*>(&backend))
    return "cpu, " + std::to_string(cpu->threads()) + " threads";
#ifdef GLMQ_HAVE_CUDA
  if (const auto* cuda = dynamic_cast<const CudaBackend*>(&backend)) {
    cudaDeviceProp prop{};
    std::string name = cudaGetDeviceProperties(&prop, 0) == cudaSuccess ? prop.name : "unknown GPU";
    return "cuda (" + name + "), " + (cuda->options().exact_decode ? "float32" : "int8") + " decode, " +
           (cuda->options().bf16_prefill ? "bf16" : "float32") + " prefill";
  }
#endif
  return backend.name();
}

int backend_threads(const Backend& backend) {
  const auto* cpu = dynamic_cast<const CpuBackend*>(&backend);
  return cpu ? cpu->threads() : 0;
}

}  // namespace glmq::cli
