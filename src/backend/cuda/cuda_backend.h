#pragma once
// The CUDA backend: every Backend op on one NVIDIA GPU (built for Hopper, sm_90a). Decode-sized calls
// (few tokens) use fused dequantize+matvec kernels per weight type and keep routing on the device, so a
// decode step makes no host round trip and can be captured as a CUDA graph; prefill-sized calls use cuBLAS
// over weights dequantized in row tiles.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <functional>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_graph.h"
#include "backend/cuda/device_scratch.h"
#include "backend/cuda/weight_cache.h"

namespace glmq {

namespace cuda {
struct RopeTable;
struct Q8View;
struct GroupedSwigluQ8Args;
}

// Up to this many tokens a product streams the weights once per token (decode, short speculative runs);
// beyond it the weights are expanded once and multiplied with cuBLAS.
constexpr std::int64_t kDecodeMaxTokens = 8;

struct CudaOptions {
  int device = 0;
  // Prefill matmuls on 16-bit and quantized weights: false = float32 (SGEMM on dequantized tiles, agrees
  // with the CPU reference to float rounding); true = bf16 tensor cores with float32 accumulation (the
  // activations are rounded to bf16, as HF runs the model in bf16).
  bool bf16_prefill = false;
  // Decode-sized products (≤ 8 tokens) on quantized weights with int8 kernels: false = activations quantized
  // per block of 32 to int8 (scale and exact float sum per block) and multiplied by dp4a, about one integer
  // instruction per weight, so the products run at memory bandwidth (≈1e-2 relative to the float result;
  // tests/cuda states the bounds); true = the float32 kernels, which agree with the CPU reference to float
  // rounding (the reference the int8 path is tested against). Float weight types always take the float kernels.
  bool exact_decode = false;
  // Steps of few tokens (Backend::run_step: decode) captured as a CUDA graph and replayed: a step with the
  // key of the captured one (the forward pass's shape, cache and bucket of context length) is only replayed;
  // another is captured again and applied to the instantiated graph with cudaGraphExecUpdate (re-instantiated
  // only when the graph's shape changed). false = every op launched on the stream as issued. The environment
  // variable GLMQ_CUDA_GRAPHS=0 turns it off too.
  bool step_graphs = true;
  // Backend::independent branches on side streams (joined by events), so that the short dependent kernels of
  // one branch overlap those of the others; false = in stream order. GLMQ_CUDA_BRANCHES=0 turns it off too.
  bool concurrent_branches = true;
};

// What CudaBackend::run_step did so far (tests and benchmarks read it).
struct StepGraphStats {
  std::int64_t eager = 0;          // steps run as issued (a graph's first step; graphs off)
  std::int64_t replayed = 0;       // steps replayed without a capture (the key of the last capture)
  std::int64_t captured = 0;       // steps captured and replayed
  // end_capture calls (run_step's and direct ones) that applied the capture to the instantiated graph by
  // cudaGraphExecUpdate, and those that instantiated it (a graph's first capture, a changed shape).
  std::int64_t updated = 0;
  std::int64_t instantiated = 0;
  std::int64_t abandoned = 0;      // captures dropped for an op that cannot be captured (CaptureUnsupported)
};

class CudaBackend : public Backend {
 public:
  // Whether a CUDA device is present (tests skip without one).
  static bool available();
  explicit CudaBackend(CudaOptions options = {});
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override { return "cuda"; }
  void* alloc(std::size_t bytes) override;
  void release(void* p) override;
  void upload(void* dst, const void* host_src, std::size_t bytes) override;
  void download(void* host_dst, const void* src, std::size_t bytes) override;
  void copy_rows(float* dst, std::int64_t dst_stride, const float* src, std::int64_t src_stride, std::int64_t n,
                 std::int64_t width) override;
  void fill(float* x, float value, std::int64_t count) override;
  void store_kv_rows(const KvRows& dst, std::int64_t first, const float* src, std::int64_t src_stride,
                     std::int64_t n) override;
  void store_kv_rows_at(const KvRows& dst, const std::int32_t* rows, const float* src, std::int64_t src_stride,
                        std::int64_t n) override;
  void load_kv_rows(const KvRows& src, std::int64_t first, std::int64_t n, float* dst) override;
  void embed(const WeightMatrix& table, const std::int32_t* tokens, std::int64_t n, float* out) override;
  void linear(const WeightMatrix& w, const float* x, std::int64_t n, float* y) override;
  // Decode-sized products of one input as independent branches (each a short kernel; in stream order the
  // small ones would wait for the large), their shared int8 input made first.
  void linears(std::span<const LinearTarget> targets, const float* x, std::int64_t n) override;
  void rms_norm(const float* x, std::int64_t x_stride, const float* w, std::int64_t n, std::int64_t dim, float eps,
                float* y) override;
  void layer_norm(const float* x, const float* w, const float* b, std::int64_t n, std::int64_t dim, float eps,
                  float* y) override;
  void rope(float* x, std::int64_t n, std::int64_t row_stride, std::int64_t heads, std::int64_t head_stride,
            std::int64_t offset, const std::int32_t* positions, const RopeSpec& spec) override;
  void add(float* x, const float* y, std::int64_t count) override;
  void add_rms_norm(float* x, const float* y, const float* w, std::int64_t n, std::int64_t dim, float eps,
                    float* out) override;
  void scale(float* x, float s, std::int64_t count) override;
  void silu_mul(const float* gate, const float* up, std::int64_t count, float* out) override;
  void swiglu(const SwigluWeights& w, const float* x, std::int64_t n, float* out) override;
  void moe_experts(const MoeExpertsArgs& args) override;
  void mla_attention(const MlaAttentionArgs& args) override;
  void indexer_select(const IndexerArgs& args) override;
  void moe_route(const MoeRouteArgs& args) override;
  // Decode: one kernel (attention_entry.cu) where it applies, else the default's three chains.
  void attention_entry(const AttentionEntryArgs& args) override;
  // Decode: the routed experts' gate+up is issued right after the routing, beside the shared expert, and only
  // their down projection (which adds onto the shared expert's output) waits for it.
  void moe(const MoeArgs& args) override;
  void independent(std::span<const std::function<void()>> branches) override;

  // CUDA graphs: ops issued between begin_capture and end_capture are recorded into `graph`, not run. Every
  // weight they use must have been used once before (weight uploads cannot be captured: CaptureUnsupported),
  // and no op may need host data back. Activation uploads are captured with the values given at capture time
  // (a replay repeats them). A graph that was instantiated before is updated in place (cudaGraphExecUpdate),
  // or instantiated again where the new capture's shape differs.
  void begin_capture(cuda::CudaGraph& graph);
  void end_capture(cuda::CudaGraph& graph);
  void replay(cuda::CudaGraph& graph);
  void synchronize();

  std::unique_ptr<StepGraph> new_step_graph() override;
  // A graph's first step runs as issued; later ones are replayed, after a capture where the key or the memory
  // layout changed (with step_graphs).
  void run_step(StepGraph& graph, std::span<const std::int64_t> key, const std::function<void()>& issue) override;
  const StepGraphStats& step_graph_stats() const { return step_stats_; }
  // Turns step graphs on or off from the next step (benchmarks compare both on one backend).
  void set_step_graphs(bool on) { options_.step_graphs = on; }

  const CudaOptions& options() const { return options_; }
  cudaStream_t stream() const { return main_stream_; }
  int sm_count() const { return sm_count_; }
  std::size_t weight_bytes() const { return weights_.bytes(); }
  // Forgets every cached device copy of host weights (call before freeing or reusing that host memory).
  void forget_weights() {
    weights_.clear();
    ++memory_epoch_;
  }

 private:
  // y[t] = W x[t] through cuBLAS (prefill): F32 weights directly, others dequantized in row tiles.
  void gemm_linear(const cuda::DeviceWeight& w, const float* x, std::int64_t n, float* y);
  // Per-segment products: rows [s·R, (s+1)·R) of w times x + s·x_segment_stride (per-head MLA matrices). With
  // y_bf16 (decode-sized n only) the products are written there as bf16 instead of to y. With x_q8 (decode-sized
  // n, use_q8(w)) x is given already quantized, rows t·segments + s (what the int8 path would make of it). With
  // y_q8 and x_q8, where the int8 kernel can (matvec_q8_quantizes_y), the product also leaves the int8 copy of y
  // that quantized() then finds for the next product (the value expansion's output, o_proj's input).
  void headwise_linear(const cuda::DeviceWeight& w, std::int64_t segments, const float* x, std::int64_t x_token_stride,
                       std::int64_t x_segment_stride, std::int64_t n, float* y, std::int64_t y_token_stride,
                       std::uint16_t* y_bf16 = nullptr, const cuda::Q8View* x_q8 = nullptr, bool y_q8 = false);
  void moe_experts_on_host_groups(const MoeExpertsArgs& args);
  // The int8 grouped SwiGLU of one block per token (a dense MLP or a shared expert), its int8 hidden rows in
  // `hidden`: issued and true where it applies (decode-sized n, int8 kernels for the block's types), else false.
  bool swiglu_q8(const SwigluWeights& w, const float* x, std::int64_t n, float* out, cuda::Scratch hidden);
  // The int8 grouped kernels' arguments for the routed experts (the hidden scratch claimed), where they apply
  // (few slots, int8 kernels for the experts' types); false otherwise.
  bool routed_q8(const MoeExpertsArgs& args, cuda::GroupedSwigluQ8Args& q);
  // A RopeSpec as the kernels take it (fails above RopeTable's largest rope dimension).
  static cuda::RopeTable rope_table(const RopeSpec& spec);
  // Whether a decode-sized product on w takes the int8 kernels.
  bool use_q8(const cuda::DeviceWeight& w) const;
  // The int8 copy of `rows` rows of `cols` floats at x (dense), quantized now or reused: one normalised
  // hidden state feeds q_a, kv_a and the indexer's wk, and another the shared and the routed experts.
  cuda::Q8View quantized(const float* x, std::int64_t rows, std::int64_t cols);
  // A cache slot for the int8 copy of these floats, recorded as current (the caller fills it now).
  cuda::Q8View q8_claim(const float* x, std::int64_t rows, std::int64_t cols);
  // Every op that writes device memory reports it, so that a cached int8 copy of changed floats is
  // never reused: `written` drops the copies whose source overlaps [p, p + bytes), `written_all` every copy
  // (ops whose outputs are not one range, and graph capture and replay).
  void written(const void* p, std::size_t bytes);
  void written_all();
  // Changes whenever device memory is allocated or freed (a captured graph's pointers may be stale).
  std::uint64_t memory_epoch() const { return memory_epoch_ + scratch_.reallocations(); }
  // Ends a capture that failed part way: the stream leaves capture mode and the partial graph is dropped.
  void abandon_capture();
  // The op being issued uses a shared resource: a work buffer (scratch below) or cuBLAS's workspace. Inside
  // Backend::independent it first waits for the work issued so far on each other branch's stream that could
  // conflict (the branches are issued one after another): a write waits for every stream that read or wrote
  // the resource since the fork, a read only for another stream's write. So no two branches use one buffer
  // at the same time, and branches that only read one (an int8 copy made before the fork) still overlap.
  static constexpr int kCublasResource = static_cast<int>(cuda::Scratch::Count);
  void claim(int resource, bool write = true);
  // A work buffer the op writes (or, with write false, only reads: an int8 copy made before), claimed.
  template <typename T>
  T* scratch(cuda::Scratch slot, std::size_t count, bool write = true) {
    claim(static_cast<int>(slot), write);
    return scratch_.get<T>(slot, count);
  }
  // The current stream waits for the work issued on `s` so far.
  void wait_for(cudaStream_t s);
  // Streams by index: 0 the main stream, i + 1 side stream i.
  int stream_index(cudaStream_t s) const;
  cudaStream_t stream_at(int index) const;

  CudaOptions options_;
  int sm_count_ = 0;
  // The stream ops are issued on: main_stream_, or a side stream while Backend::independent issues a branch.
  cudaStream_t stream_ = nullptr;
  cudaStream_t main_stream_ = nullptr;
  static constexpr int kSideStreams = 2;
  cudaStream_t side_streams_[kSideStreams] = {};
  cudaEvent_t fork_event_ = nullptr;
  cudaEvent_t join_events_[kSideStreams] = {};
  cudaEvent_t claim_events_[kSideStreams + 1] = {};  // per stream: main, then the side streams
  bool branching_ = false;
  // Inside a fork, per resource: the stream that last wrote it and the streams (bit 0 main, bit i + 1 side
  // stream i) that read it since.
  struct ResourceUse {
    cudaStream_t writer = nullptr;
    unsigned readers = 0;
  };
  ResourceUse resource_use_[kCublasResource + 1] = {};
  cublasHandle_t cublas_ = nullptr;
  cuda::WeightCache weights_;
  cuda::DeviceScratch scratch_;
  struct Q8Cached {
    const float* x = nullptr;
    std::int64_t rows = 0, cols = 0;
  };
  static constexpr int kQ8Cached = 4;
  Q8Cached q8_cache_[kQ8Cached];
  int q8_next_ = 0;
  // The graph being captured into (its staging memory takes the uploads), null when not capturing.
  cuda::CudaGraph* capturing_ = nullptr;
  StepGraphStats step_stats_;
  std::uint64_t memory_epoch_ = 0;
};

}  // namespace glmq
