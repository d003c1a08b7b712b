// CudaBackend: device, stream and memory; the small ops; CUDA-graph capture.
#include "backend/cuda/cuda_backend.h"

#include <algorithm>
#include <cstdlib>
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
  if (const char* env = std::getenv("GLMQ_CUDA_GRAPHS"); env && std::strcmp(env, "0") == 0) options_.step_graphs = false;
  if (const char* env = std::getenv("GLMQ_CUDA_BRANCHES"); env && std::strcmp(env, "0") == 0)
    options_.concurrent_branches = false;
  check(cudaSetDevice(options_.device), ("selecting CUDA device " + std::to_string(options_.device)).c_str());
  check(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, options_.device), "reading the SM count");
  check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating a stream");
  main_stream_ = stream_;
  for (int i = 0; i < kSideStreams; ++i) {
    check(cudaStreamCreateWithFlags(&side_streams_[i], cudaStreamNonBlocking), "creating a stream");
    check(cudaEventCreateWithFlags(&join_events_[i], cudaEventDisableTiming), "creating an event");
  }
  check(cudaEventCreateWithFlags(&fork_event_, cudaEventDisableTiming), "creating an event");
  for (cudaEvent_t& e : claim_events_) check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "creating an event");
  check(cublasCreate(&cublas_), "creating a cuBLAS handle");
  check(cublasSetStream(cublas_, stream_), "binding cuBLAS to the stream");
}

CudaBackend::~CudaBackend() {
  cudaStreamSynchronize(main_stream_);
  cublasDestroy(cublas_);
  for (int i = 0; i < kSideStreams; ++i) {
    cudaEventDestroy(join_events_[i]);
    cudaStreamDestroy(side_streams_[i]);
  }
  cudaEventDestroy(fork_event_);
  for (cudaEvent_t e : claim_events_) cudaEventDestroy(e);
  cudaStreamDestroy(main_stream_);
}

void CudaBackend::independent(std::span<const std::function<void()>> branches) {
  // Nested branches (a branch's own independent ops) run in their branch's stream order.
  if (branching_ || !options_.concurrent_branches || branches.size() < 2 || branches.size() > 1 + kSideStreams) {
    Backend::independent(branches);
    return;
  }
  // Branch 0 stays on the main stream; branch i starts on side stream i − 1 once the main stream has reached
  // this point, and the main stream waits for every side stream before the next op. (Recorded in a graph
  // capture, the events become the graph's fork and join edges.) Work buffers the branches' ops share, the
  // int8 copies of activations included, are ordered by claim().
  auto issue_on = [&](cudaStream_t s) {
    stream_ = s;
    check(cublasSetStream(cublas_, s), "binding cuBLAS to a stream");
  };
  const std::size_t sides = branches.size() - 1;
  check(cudaEventRecord(fork_event_, main_stream_), "forking streams");
  for (std::size_t i = 0; i < sides; ++i) check(cudaStreamWaitEvent(side_streams_[i], fork_event_, 0), "forking streams");
  branching_ = true;
  std::fill(std::begin(resource_use_), std::end(resource_use_), ResourceUse{});
  // Joined on every exit: a capture left with an unjoined stream could not be ended.
  auto join = [&] {
    branching_ = false;
    issue_on(main_stream_);
    for (std::size_t i = 0; i < sides; ++i) {
      check(cudaEventRecord(join_events_[i], side_streams_[i]), "joining streams");
      check(cudaStreamWaitEvent(main_stream_, join_events_[i], 0), "joining streams");
    }
  };
  try {
    for (std::size_t i = 0; i < branches.size(); ++i) {
      issue_on(stream_at(static_cast<int>(i)));
      branches[i]();
    }
  } catch (...) {
    join();
    throw;
  }
  join();
}

int CudaBackend::stream_index(cudaStream_t s) const {
  for (int i = 0; i < kSideStreams; ++i)
    if (side_streams_[i] == s) return i + 1;
  return 0;
}

cudaStream_t CudaBackend::stream_at(int index) const { return index == 0 ? main_stream_ : side_streams_[index - 1]; }

void CudaBackend::wait_for(cudaStream_t s) {
  cudaEvent_t e = claim_events_[stream_index(s)];
  check(cudaEventRecord(e, s), "ordering branches that share a buffer");
  check(cudaStreamWaitEvent(stream_, e, 0), "ordering branches that share a buffer");
}

void CudaBackend::claim(int resource, bool write) {
  if (!branching_) return;
  ResourceUse& use = resource_use_[resource];
  if (use.writer && use.writer != stream_) wait_for(use.writer);
  const int self = stream_index(stream_);
  if (!write) {
    use.readers |= 1u << self;
    return;
  }
  for (int i = 0; i <= kSideStreams; ++i)
    if (i != self && ((use.readers >> i) & 1u)) wait_for(stream_at(i));
  use.writer = stream_;
  use.readers = 0;
}

void* CudaBackend::alloc(std::size_t bytes) {
  ++memory_epoch_;
  void* p = nullptr;
  check(cudaMalloc(&p, std::max<std::size_t>(bytes, 256)), ("allocating " + std::to_string(bytes) + " bytes").c_str());
  return p;
}

void CudaBackend::release(void* p) {
  written_all();  // a later allocation may reuse the address
  ++memory_epoch_;
  if (p) check(cudaFree(p), "freeing device memory");
}

void CudaBackend::upload(void* dst, const void* host_src, std::size_t bytes) {
  if (!bytes) return;
  // A captured copy reads its source at replay time: from the graph's own pinned memory.
  if (capturing_) host_src = capturing_->stage(host_src, bytes);
  check(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_), "upload");
  written(dst, bytes);
}

void CudaBackend::download(void* host_dst, const void* src, std::size_t bytes) {
  if (!bytes) return;
  if (capturing_) throw CaptureUnsupported("a read-back of device memory");
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
  launch_store_kv_rows(kv_view(dst), first, nullptr, src, src_stride, n, stream_);
  written_all();
}

void CudaBackend::store_kv_rows_at(const KvRows& dst, const std::int32_t* rows, const float* src, std::int64_t src_stride,
                                   std::int64_t n) {
  launch_store_kv_rows(kv_view(dst), 0, rows, src, src_stride, n, stream_);
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
  if (!options_.exact_decode && n <= kDecodeMaxTokens && rms_norm_q8_applies(dim, x_stride, {x, y})) {
    // Decode: the normalised rows feed int8 products next (q_a, kv_a, wk; q_b, wq_b; the experts), so the
    // norm writes their int8 copy too, saving a quantization launch per consumer group.
    launch_rms_norm_q8(x, x_stride, weights_.vector(w, dim), n, dim, eps, y, q8_claim(y, n, dim), stream_);
    return;
  }
  launch_rms_norm(x, x_stride, weights_.vector(w, dim), n, dim, eps, y, stream_);
}

void CudaBackend::add_rms_norm(float* x, const float* y, const float* w, std::int64_t n, std::int64_t dim, float eps,
                               float* out) {
  if (options_.exact_decode || n > kDecodeMaxTokens || !rms_norm_q8_applies(dim, dim, {x, y, out}))
    return Backend::add_rms_norm(x, y, w, n, dim, eps, out);
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

RopeTable CudaBackend::rope_table(const RopeSpec& spec) {
  RopeTable table;
  if (spec.inv_freq.size() > static_cast<std::size_t>(RopeTable::kMaxHalf))
    fail(ErrorKind::InvalidArgument, "rope dimension " + std::to_string(2 * spec.inv_freq.size()) + " above the CUDA limit of " +
                                         std::to_string(2 * RopeTable::kMaxHalf));
  table.half = static_cast<int>(spec.inv_freq.size());
  for (int k = 0; k < table.half; ++k) table.inv_freq[k] = spec.inv_freq[static_cast<std::size_t>(k)];
  table.attention_factor = spec.attention_factor;
  table.interleaved = spec.interleaved;
  return table;
}

void CudaBackend::rope(float* x, std::int64_t n, std::int64_t row_stride, std::int64_t heads, std::int64_t head_stride,
                       std::int64_t offset, const std::int32_t* positions, const RopeSpec& spec) {
  launch_rope(x, n, row_stride, heads, head_stride, offset, positions, rope_table(spec), stream_);
  written(x, static_cast<std::size_t>(n * row_stride) * sizeof(float));
}

void CudaBackend::attention_entry(const AttentionEntryArgs& a) {
  if (options_.exact_decode || a.n > kDecodeMaxTokens) return Backend::attention_entry(a);
  AttentionEntryKernelArgs k;
  k.n = static_cast<int>(a.n);
  k.positions = a.positions;
  k.eps = a.eps;
  k.q_a = a.q_a;
  k.q_lora = static_cast<int>(a.q_lora);
  k.q_a_norm = weights_.vector(a.q_a_norm, a.q_lora);
  k.q_a_normed = a.q_a_normed;
  k.kv_a = a.kv_a;
  k.latent_dim = static_cast<int>(a.latent_dim);
  k.rope_dim = static_cast<int>(a.rope_dim);
  k.kv_a_norm = weights_.vector(a.kv_a_norm, a.latent_dim);
  k.latent = a.latent;
  k.rope = rope_table(*a.rope);
  if (a.index_key) {
    k.index_key = a.index_key;
    k.index_dim = static_cast<int>(a.index_dim);
    k.index_heads = static_cast<int>(a.index_heads);
    k.index_norm_weight = weights_.vector(a.index_norm_weight, a.index_dim);
    k.index_norm_bias = weights_.vector(a.index_norm_bias, a.index_dim);
    k.index_eps = a.index_eps;
    k.head_weight_scale = a.head_weight_scale;
    k.head_weights = a.head_weights;
    k.head_weight_proj = weights_.matrix(*a.head_weight_proj);
    k.head_weight_rows = float_rows_apply(k.head_weight_proj, kAttentionEntryThreads);
    k.hidden = a.hidden;
    k.hidden_dim = static_cast<int>(a.hidden_dim);
    k.index_rope = rope_table(*a.index_rope);
  }
  if (!attention_entry_applies(k, a.chunks.size())) return Backend::attention_entry(a);
  for (std::size_t c = 0; c < a.chunks.size(); ++c) {
    const AttentionEntryChunk& ch = a.chunks[c];
    k.chunk_end[c] = static_cast<int>(ch.row + ch.n);
    k.latent_cache[c] = kv_view(ch.latent);
    k.k_rope_cache[c] = kv_view(ch.k_rope);
    if (a.index_key) k.index_key_cache[c] = kv_view(ch.index_keys);
  }
  written_all();  // the caches, and outputs in several buffers
  k.q_a_q8 = q8_claim(a.q_a_normed, a.n, a.q_lora);
  launch_attention_entry(k, stream_);
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

CudaGraph::~CudaGraph() {
  if (replay_pending_) cudaEventSynchronize(replayed_);
  if (exec_) cudaGraphExecDestroy(exec_);
  if (replayed_) cudaEventDestroy(replayed_);
  for (const Block& b : blocks_) cudaFreeHost(b.p);
}

void CudaGraph::restart_staging() {
  if (blocks_.size() > 1) {
    // The last capture outgrew the first block: start from one block as large as all of them (nothing reads
    // them now: the caller waited for the last replay, and the next capture replaces every copy node).
    std::size_t total = 0;
    for (const Block& b : blocks_) {
      total += b.size;
      check(cudaFreeHost(b.p), "freeing the staging memory of a graph");
    }
    blocks_.clear();
    Block b;
    check(cudaMallocHost(&b.p, total), "allocating staging memory for a graph");
    b.size = total;
    blocks_.push_back(b);
  }
  staged_ = 0;
}

const void* CudaGraph::stage(const void* host, std::size_t bytes) {
  constexpr std::size_t kAlign = 16, kFirstBlock = 4096;
  staged_ = (staged_ + kAlign - 1) / kAlign * kAlign;
  if (blocks_.empty() || staged_ + bytes > blocks_.back().size) {
    Block b;
    b.size = std::max(bytes, blocks_.empty() ? kFirstBlock : 2 * blocks_.back().size);
    check(cudaMallocHost(&b.p, b.size), "allocating staging memory for a graph");
    blocks_.push_back(b);
    staged_ = 0;
  }
  void* dst = static_cast<char*>(blocks_.back().p) + staged_;
  std::memcpy(dst, host, bytes);
  staged_ += bytes;
  return dst;
}

void CudaBackend::begin_capture(CudaGraph& graph) {
  if (capturing_) fail(ErrorKind::InvalidArgument, "begin_capture while a capture is under way");
  // The staged inputs of the last replay are overwritten below: wait until it has read them.
  if (graph.replay_pending_) check(cudaEventSynchronize(graph.replayed_), "waiting for a graph's last replay");
  graph.replay_pending_ = false;
  graph.restart_staging();
  // Int8 copies made before the capture are not in the graph: a replay must quantize its own.
  written_all();
  check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed), "beginning graph capture");
  capturing_ = &graph;
  weights_.set_capturing(true);
  scratch_.set_capturing(true);
}

void CudaBackend::end_capture(CudaGraph& graph) {
  if (capturing_ != &graph) fail(ErrorKind::InvalidArgument, "end_capture into a graph other than the one being captured");
  capturing_ = nullptr;
  weights_.set_capturing(false);
  cudaGraph_t captured = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(stream_, &captured);
  written_all();  // what the capture recorded has not run
  if (ended != cudaSuccess) scratch_.set_capturing(false);
  check(ended, "ending graph capture");
  if (graph.exec_) {
    // Same kernels and copies with new arguments (a decode step at the next position): update in place, far
    // cheaper than instantiating. A changed shape (node count, kernel, an edge) fails the update.
    cudaGraphExecUpdateResultInfo info{};
    if (cudaGraphExecUpdate(graph.exec_, captured, &info) == cudaSuccess) {
      cudaGraphDestroy(captured);
      scratch_.set_capturing(false);  // frees the buffers replaced during the capture: the graph now uses the new ones
      ++step_stats_.updated;
      return;
    }
    (void)cudaGetLastError();  // the failed update's error is not sticky; clear it for the next check
    cudaGraphExecDestroy(graph.exec_);
    graph.exec_ = nullptr;
  }
  const cudaError_t status = cudaGraphInstantiate(&graph.exec_, captured, 0);
  cudaGraphDestroy(captured);
  scratch_.set_capturing(false);
  check(status, "instantiating the captured graph");
  ++step_stats_.instantiated;
}

void CudaBackend::abandon_capture() {
  capturing_ = nullptr;
  weights_.set_capturing(false);
  cudaGraph_t partial = nullptr;
  // Ends capture mode even where the capture was invalidated (then the call reports an error and no graph).
  if (cudaStreamEndCapture(stream_, &partial) == cudaSuccess && partial) cudaGraphDestroy(partial);
  (void)cudaGetLastError();
  scratch_.set_capturing(false);
  written_all();
}

void CudaBackend::replay(CudaGraph& graph) {
  if (!graph.exec_) fail(ErrorKind::InvalidArgument, "replay of a graph that was never captured");
  check(cudaGraphLaunch(graph.exec_, stream_), "launching a graph");
  if (!graph.replayed_) check(cudaEventCreateWithFlags(&graph.replayed_, cudaEventDisableTiming), "creating an event");
  check(cudaEventRecord(graph.replayed_, stream_), "recording a graph's replay");
  graph.replay_pending_ = true;
  written_all();
}

std::unique_ptr<StepGraph> CudaBackend::new_step_graph() { return std::make_unique<CudaGraph>(); }

void CudaBackend::run_step(StepGraph& step, std::span<const std::int64_t> key, const std::function<void()>& issue) {
  auto* graph = dynamic_cast<CudaGraph*>(&step);
  if (!graph) fail(ErrorKind::InvalidArgument, "run_step on CUDA given a graph from another backend");
  if (capturing_) {  // a step inside a capture the caller began: its ops join that capture
    issue();
    return;
  }
  if (!options_.step_graphs || !graph->warm_) {
    issue();
    graph->warm_ = true;
    ++step_stats_.eager;
    return;
  }
  if (graph->exec_ && graph->epoch_ == memory_epoch() && std::ranges::equal(graph->key_, key)) {
    replay(*graph);
    ++step_stats_.replayed;
    return;
  }
  begin_capture(*graph);
  try {
    issue();
  } catch (const CaptureUnsupported&) {
    // A weight this step uses for the first time (a path the warm-up step did not take), or an op that reads
    // results back (MoE with more routed slots than the grouped kernels take): run the step as issued, which
    // uploads the weight; the next step is captured again.
    abandon_capture();
    ++step_stats_.abandoned;
    issue();
    return;
  } catch (...) {
    abandon_capture();
    throw;
  }
  end_capture(*graph);
  graph->key_.assign(key.begin(), key.end());
  graph->epoch_ = memory_epoch();  // after the capture, which may have grown work buffers
  replay(*graph);
  ++step_stats_.captured;
}

void CudaBackend::synchronize() { check(cudaStreamSynchronize(stream_), "synchronising the stream"); }

}  // namespace glmq
