#pragma once
// The CPU backend: plain, readable float32 ops, vectorised loops and OpenMP threads across rows/heads.
#include <array>
#include <vector>

#include "backend/backend.h"
#include "backend/matmul_observer.h"

namespace glmq {

class CpuBackend : public Backend {
 public:
  // threads <= 0: use OpenMP's default (all cores).
  explicit CpuBackend(int threads = 0);
  std::string name() const override { return "cpu"; }
  int threads() const { return threads_; }
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
  void load_kv_rows(const KvRows& src, std::int64_t first, std::int64_t n, float* dst) override;
  void embed(const WeightMatrix& table, const std::int32_t* tokens, std::int64_t n, float* out) override;
  void linear(const WeightMatrix& w, const float* x, std::int64_t n, float* y) override;
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
  int threads_;
  MatmulObserver* observer_ = nullptr;
  std::vector<float> observed_latent_;  // with an observer: each query's attention output per head, before W_UV
  // Attention: selected cache rows decoded to floats, and pointers to each row's latent and rope part.
  std::vector<float> gathered_;
  std::vector<const float*> row_ptrs_;
  std::array<std::vector<float>, static_cast<std::size_t>(ScratchSlot::Count)> scratch_;
};

}  // namespace glmq
