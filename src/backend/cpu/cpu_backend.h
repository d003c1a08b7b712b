#pragma once
// The CPU backend: float32 activations, weights read in their stored type, work split across a pool of threads.
//
// Matrix products have two implementations. The reference one (CpuKernels::Reference) decodes each weight to float32
// and takes float dot products: plain, readable, the oracle every fast path is tested against. The fast one
// (CpuKernels::Fast, the default) rounds the activations to int8 blocks once per product for the GGML block types and
// MLX affine weights (every one has an integer kernel, q8_kernels.h, in builds with AVX-512 VNNI), and runs
// register-blocked float kernels for F32/F16/BF16 weights (exact widening, float32 activations); in builds without
// those kernels the quantized types fall back to the reference code.
// CpuKernels::FastBf16 is the fast one with BF16 weights' activations rounded to bf16 (vdpbf16ps, bf16_kernels.h, in
// builds with AVX512-BF16).
#include <array>
#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/matmul_input.h"
#include "backend/cpu/work_pool.h"
#include "backend/cpu/work_split.h"
#include "backend/matmul_observer.h"

namespace glmq {

// CpuKernels::Reference when the environment sets GLMQ_CPU_KERNELS=reference, FastBf16 for =fast-bf16, else Fast.
CpuKernels default_cpu_kernels();

class CpuBackend : public Backend {
 public:
  // threads <= 0: all cores (OpenMP's default count).
  explicit CpuBackend(int threads = 0, CpuKernels kernels = default_cpu_kernels());
  std::string name() const override { return "cpu"; }
  int threads() const { return threads_; }
  CpuKernels kernels() const { return kernels_; }
  // Shows every matrix product's weight and input rows to `observer` (null: none); see matmul_observer.h.
  void set_matmul_observer(MatmulObserver* observer) { observer_ = observer; }

  void* alloc(std::size_t bytes) override;
  void release(void* p) override;
  void upload(void* dst, const void* host_src, std::size_t bytes) override;
  void download(void* host_dst, const void* src, std::size_t bytes) override;
  void copy_rows(float* dst, std::int64_t dst_stride, const float* src, std::int64_t src_stride, std::int64_t n,
                 std::int64_t width) override;
  void fill(float* x, float value, std::int64_t count) override;
  void store_kv_rows(const KvRows& dst, std::int64_t first, const float* src, std::int64_t src_stride, std::int64_t n) override;
  void store_kv_rows_at(const KvRows& dst, const std::int32_t* rows, const float* src, std::int64_t src_stride,
                        std::int64_t n) override;
  void load_kv_rows(const KvRows& src, std::int64_t first, std::int64_t n, float* dst) override;
  void embed(const WeightMatrix& table, const std::int32_t* tokens, std::int64_t n, float* out) override;
  void linear(const WeightMatrix& w, const float* x, std::int64_t n, float* y) override;
  void linears(std::span<const LinearTarget> targets, const float* x, std::int64_t n) override;
  void rms_norm(const float* x, std::int64_t x_stride, const float* w, std::int64_t n, std::int64_t dim, float eps,
                float* y) override;
  void layer_norm(const float* x, const float* w, const float* b, std::int64_t n, std::int64_t dim, float eps,
                  float* y) override;
  void rope(float* x, std::int64_t n, std::int64_t row_stride, std::int64_t heads, std::int64_t head_stride,
            std::int64_t offset, const std::int32_t* positions, const RopeSpec& spec) override;
  void add(float* x, const float* y, std::int64_t count) override;
  void scale(float* x, float s, std::int64_t count) override;
  void silu_mul(const float* gate, const float* up, std::int64_t count, float* out) override;
  void swiglu(const SwigluWeights& w, const float* x, std::int64_t n, float* out) override;
  void moe_experts(const MoeExpertsArgs& args) override;
  void mla_attention(const MlaAttentionArgs& args) override;
  void indexer_select(const IndexerArgs& args) override;
  void moe_route(const MoeRouteArgs& args) override;

 private:
  // Reused scratch buffers so steady-state decoding allocates nothing; one per purpose.
  enum class ScratchSlot { RopeTable, Gate, Up, ExpertIn, ExpertOut, Count };
  std::vector<float>& scratch(ScratchSlot slot, std::size_t count);
  // out[token] (+)= weight · FFN(x[token]) for each item, in two parallel jobs (fast kernels, few tokens). False, with
  // nothing written, when the items' matrices do not share one kernel path and shape.
  struct FfnItem {
    const SwigluWeights* weights;
    std::int64_t token;
    float weight;
  };
  bool ffn_few_tokens(std::span<const FfnItem> items, const float* x, std::int64_t n, float* out, bool accumulate);
  // gate·x and up·x of a SwiGLU block from one rounding of x, in one parallel job (fast kernels); false, with
  // nothing written, when the two matrices do not share a fast kernel path.
  bool gate_and_up(const SwigluWeights& w, const float* x, std::int64_t n, float* g, float* u);
  // The reference product for several tokens: tiles of weight rows decoded to float32, then a float GEMM.
  void linear_tiles(const WeightMatrix& w, const float* x, std::int64_t n, float* y);
  int threads_;
  CpuKernels kernels_;
  // Helper threads live as long as the backend; mutable state below is used by one op at a time.
  std::unique_ptr<cpu::WorkPool> pool_;
  cpu::MatmulInput input_;  // linear's activations, prepared for the current weight's kernel
  cpu::MatmulInput ffn_x_, ffn_h_;  // ffn_few_tokens: the block inputs, and the silu(gate)·up rows
  std::vector<FfnItem> ffn_items_;
  // linears: the products that share input_ (with the pool chunks each starts at), and the others.
  struct LinearPart {
    LinearTarget target;
    cpu::Split split;
    std::int64_t first_chunk;
  };
  std::vector<LinearPart> linear_parts_;
  std::vector<LinearTarget> linear_others_;
  MatmulObserver* observer_ = nullptr;
  // Attention, per query and head: the absorbed query W_UKᵀ q_nope, and the attention output õ before W_UV.
  std::vector<float> q_latent_, o_latent_;
  std::vector<float> gathered_;          // decoding: the query's selected cache rows, decoded to float32
  std::vector<const void*> row_ptrs_;   // and pointers to each row's latent part, then to each rope part
  std::vector<float> index_scores_;  // indexer, one decoding query: its score per cache position
  std::array<std::vector<float>, static_cast<std::size_t>(ScratchSlot::Count)> scratch_;
};

}  // namespace glmq
