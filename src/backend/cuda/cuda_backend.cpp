// CudaBackend: device, stream and memory; the small ops; CUDA-graph capture.
#include "backend/cuda/cuda_backend.h"

#include <cstring>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace glmq {

using namespace cuda;

bool CudaBackend::available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

CudaBackend::CudaBackend(CudaOptions options) : options_(options) {
  check(cudaSetDevice(options_.device), ("selecting CUDA device " + std::to_string(options_.device)).c_str());
  check(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, options_.device), "reading the SM count");
  check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating a stream");
  check(cublasCreate(&cublas_), "creating a cuBLAS handle");
  check(cublasSetStream(cublas_, stream_), "binding cuBLAS to the stream");
}

CudaBackend::~CudaBackend() {
  cudaStreamSynchronize(stream_);
  for (void* p : captured_inputs_) cudaFreeHost(p);
  cublasDestroy(cublas_);
  cudaStreamDestroy(stream_);
}

void* CudaBackend::alloc(std::size_t bytes) {
  void* p = nullptr;
  check(cudaMalloc(&p, std::max<std::size_t>(bytes, 256)), ("allocating " + std::to_string(bytes) + " bytes").c_str());
  return p;
}

void CudaBackend::release(void* p) {
  written_all();  // a later allocation may reuse the address
  if (p) check(cudaFree(p), "freeing device memory");
}

void CudaBackend::upload(void* dst, const void* host_src, std::size_t bytes) {
  if (!bytes) return;
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(stream_, &capturing), "querying capture");
  if (capturing == cudaStreamCaptureStatusActive) {
    // A captured copy reads its source at replay time: give it pinned memory that lives as long as we do.
    void* pinned = nullptr;
    check(cudaMallocHost(&pinned, bytes), "allocating pinned memory for a captured upload");
    captured_inputs_.push_back(pinned);
    std::memcpy(pinned, host_src, bytes);
    host_src = pinned;
  }
  check(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_), "upload");
  written(dst, bytes);
}

void CudaBackend::download(void* host_dst, const void* src, std::size_t bytes) {
  if (!bytes) return;
  check(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "download");
  check(cudaStreamSynchronize(stream_), "download (synchronise)");
}

void CudaBackend::copy_rows(float* dst, std::int64_t dst_stride, const float* src, std::int64_t src_stride,
                            std::int64_t n, std::int64_t width) {
  launch_copy_rows(dst, dst_stride, src, src_stride, n, width, stream_);
  if (n > 0) written(dst, static_cast<std::size_t>((n - 1) * dst_stride + width) * sizeof(float));
}

void CudaBackend::store_kv_rows(const KvRows& dst, std::int64_t first, const float* src, std::int64_t src_stride,
                                std::int64_t n) {
  launch_store_kv_rows(kv_view(dst), first, src, src_stride, n, stream_);
  written_all();
}

void CudaBackend::load_kv_rows(const KvRows& src, std::int64_t first, std::int64_t n, float* dst) {
  launch_load_kv_rows(kv_view(src), first, n, dst, stream_);
  written_all();
}

void CudaBackend::fill(float* x, float value, std::int64_t count) {
  launch_fill(x, value, count, stream_);
  written(x, static_cast<std::size_t>(count) * sizeof(float));
}
void CudaBackend::add(float* x, const float* y, std::int64_t count) {
  launch_add(x, y, count, stream_);
  written(x, static_cast<std::size_t>(count) * sizeof(float));
}
void CudaBackend::scale(float* x, float s, std::int64_t count) {
  launch_scale(x, s, count, stream_);
  written(x, static_cast<std::size_t>(count) * sizeof(float));
}
void CudaBackend::silu_mul(const float* gate, const float* up, std::int64_t count, float* out) {
  launch_silu_mul(gate, up, count, out, stream_);
  written(out, static_cast<std::size_t>(count) * sizeof(float));
}

void CudaBackend::embed(const WeightMatrix& table, const std::int32_t* tokens, std::int64_t n, float* out) {
  launch_embed(weights_.matrix(table), tokens, n, out, stream_);
  written(out, static_cast<std::size_t>(n * table.cols) * sizeof(float));
}

void CudaBackend::rms_norm(const float* x, std::int64_t x_stride, const float* w, std::int64_t n, std::int64_t dim,
                           float eps, float* y) {
  written(y, static_cast<std::size_t>(n * dim) * sizeof(float));
  if (!options_.exact_decode && n <= kDecodeMaxTokens && rms_norm_q8_applies(dim)) {
    // Decode: the normalised rows feed int8 products next (q_a, kv_a, wk; q_b, wq_b; the experts), so the
    // norm writes their int8 copy too, saving a quantization launch per consumer group.
    launch_rms_norm_q8(x, x_stride, weights_.vector(w, dim), n, dim, eps, y, q8_claim(y, n, dim), stream_);
    return;
  }
  launch_rms_norm(x, x_stride, weights_.vector(w, dim), n, dim, eps, y, stream_);
}

void CudaBackend::add_rms_norm(float* x, const float* y, const float* w, std::int64_t n, std::int64_t dim, float eps,
                               float* out) {
  if (options_.exact_decode || n > kDecodeMaxTokens || !rms_norm_q8_applies(dim)) return Backend::add_rms_norm(x, y, w, n, dim, eps, out);
  // Decode: one launch for the residual add, the norm and the int8 copy of its output.
  written(x, static_cast<std::size_t>(n * dim) * sizeof(float));
  written(out, static_cast<std::size_t>(n * dim) * sizeof(float));
  launch_add_rms_norm_q8(x, y, weights_.vector(w, dim), n, dim, eps, out, q8_claim(out, n, dim), stream_);
}

void CudaBackend::layer_norm(const float* x, const float* w, const float* b, std::int64_t n, std::int64_t dim, float eps,
                             float* y) {
  launch_layer_norm(x, weights_.vector(w, dim), weights_.vector(b, dim), n, dim, eps, y, stream_);
  written(y, static_cast<std::size_t>(n * dim) * sizeof(float));
}

void CudaBackend::rope(float* x, std::int64_t n, std::int64_t row_stride, std::int64_t heads, std::int64_t head_stride,
                       std::int64_t offset, const std::int32_t* positions, const RopeSpec& spec) {
  RopeTable table;
  if (spec.inv_freq.size() > static_cast<std::size_t>(RopeTable::kMaxHalf))
    fail(ErrorKind::InvalidArgument, "rope dimension " + std::to_string(2 * spec.inv_freq.size()) + " above the CUDA limit of " +
                                         std::to_string(2 * RopeTable::kMaxHalf));
  table.half = static_cast<int>(spec.inv_freq.size());
  for (int k = 0; k < table.half; ++k) table.inv_freq[k] = spec.inv_freq[static_cast<std::size_t>(k)];
  table.attention_factor = spec.attention_factor;
  table.interleaved = spec.interleaved;
  launch_rope(x, n, row_stride, heads, head_stride, offset, positions, table, stream_);
  written(x, static_cast<std::size_t>(n * row_stride) * sizeof(float));
}

void CudaBackend::moe_route(const MoeRouteArgs& a) {
  RouteArgs r;
  r.n_tokens = a.n_tokens;
  r.n_experts = a.n_experts;
  r.top_k = a.top_k;
  r.n_group = a.n_group;
  r.topk_group = a.topk_group;
  r.norm_topk_prob = a.norm_topk_prob;
  r.routed_scaling_factor = a.routed_scaling_factor;
  r.logits = a.logits;
  r.correction_bias = weights_.vector(a.correction_bias, a.n_experts);
  r.experts = a.experts;
  r.weights = a.weights;
  launch_moe_route(r, stream_);
  written(a.experts, static_cast<std::size_t>(a.n_tokens * a.top_k) * sizeof(std::int32_t));
  written(a.weights, static_cast<std::size_t>(a.n_tokens * a.top_k) * sizeof(float));
}

void CudaBackend::begin_capture() {
  // Int8 copies made before the capture are not in the graph: a replay must quantize its own.
  written_all();
  check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed), "beginning graph capture");
}

CudaGraph CudaBackend::end_capture() {
  cudaGraph_t graph = nullptr;
  check(cudaStreamEndCapture(stream_, &graph), "ending graph capture");
  cudaGraphExec_t exec = nullptr;
  const cudaError_t status = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  check(status, "instantiating the captured graph");
  written_all();  // what the capture recorded has not run
  return CudaGraph(exec);
}

void CudaBackend::replay(const CudaGraph& graph) {
  check(cudaGraphLaunch(graph.get(), stream_), "launching a graph");
  written_all();
}

void CudaBackend::synchronize() { check(cudaStreamSynchronize(stream_), "synchronising the stream"); }

}  // namespace glmq
