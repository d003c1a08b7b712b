// CudaBackend's attention ops: sparse absorbed MLA and the DSA indexer's selection.
#include <algorithm>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace glmq {

using namespace cuda;

namespace {
// Score work buffers are at most this many floats (256 MB); longer runs of queries go in chunks.
constexpr std::int64_t kScoreFloats = std::int64_t{64} << 20;
// Queries per chunk also stay within a grid dimension.
constexpr std::int64_t kMaxChunkQueries = 8192;
}  // namespace

void CudaBackend::mla_attention(const MlaAttentionArgs& a) {
  const std::int64_t n = a.n_queries, H = a.heads, R = a.latent_dim, qk = a.nope_dim + a.rope_dim;
  if (n <= 0) return;
  written_all();  // writes its own work buffers and a.out
  const DeviceWeight& k_absorb = weights_.matrix(a.k_absorb);
  const DeviceWeight& v_expand = weights_.matrix(a.v_expand);
  float* o_latent = scratch<float>(Scratch::OLatent, static_cast<std::size_t>(n * H * R));
  // Queries [q0, q0 + nq) of the core; q̃ and the scores buffer set by the caller.
  auto core_args = [&](std::int64_t q0, std::int64_t nq) {
    MlaCoreArgs c;
    c.nq = nq;
    c.heads = H;
    c.rope_dim = a.rope_dim;
    c.latent_dim = R;
    c.q_rope = a.q + q0 * H * qk + a.nope_dim;
    c.q_rope_token_stride = H * qk;
    c.q_rope_head_stride = qk;
    c.latent = kv_view(a.latent);
    c.k_rope = kv_view(a.k_rope);
    c.selection = a.selection + q0 * a.selection_stride;
    c.selection_count = a.selection_count + q0;
    c.selection_stride = a.selection_stride;
    c.scale = a.scale;
    c.o_latent = o_latent + q0 * H * R;
    return c;
  };
  // Decode steps take the bf16 tensor-core kernel (its rounding is of the int8 path's order), its q̃ written as
  // bf16 by the absorbing product itself (the kernel's blocks copy it, no conversion); the exact path and longer
  // runs of queries keep the float32 tiles.
  bool decoded = false;
  Q8View o_latent_q8;  // set where the decode kernel's merge writes õ as int8 for the value expansion
  if (!options_.exact_decode && n <= kDecodeMaxTokens) {
    MlaCoreArgs c = core_args(0, n);
    // The float32 q̃ slot holds the bf16 one here (the float32 q̃ is not needed).
    std::uint16_t* q_latent_bf16 = scratch<std::uint16_t>(Scratch::QLatent, static_cast<std::size_t>(n * H * R));
    c.q_latent_bf16 = q_latent_bf16;
    if (mla_decode_applies(c)) {
      headwise_linear(k_absorb, H, a.q, H * qk, qk, n, nullptr, H * R, q_latent_bf16);
      if (use_q8(v_expand)) {
        // The slot the expansion's own quantization would use (the absorption's int8 q_nope, read by then).
        o_latent_q8 = q8_view(scratch<std::uint8_t>(Scratch::Q8Headwise, q8_bytes(n * H, R)), n * H, R);
        c.o_latent_q8 = o_latent_q8;
      }
      launch_mla_decode(c, scratch<float>(Scratch::AttnPartial, mla_decode_partial_floats(c)), stream_);
      decoded = true;
    }
  }
  if (!decoded) {
    float* q_latent = scratch<float>(Scratch::QLatent, static_cast<std::size_t>(n * H * R));
    // q̃_h = W_UK,hᵀ q_nope,h for every head, so scores read the cached latent directly.
    headwise_linear(k_absorb, H, a.q, H * qk, qk, n, q_latent, H * R);
    const std::int64_t chunk = std::clamp<std::int64_t>(kScoreFloats / (H * a.selection_stride), 1,
                                                        std::min(n, kMaxChunkQueries));
    float* scores = scratch<float>(Scratch::AttnScores, static_cast<std::size_t>(chunk * H * a.selection_stride));
    for (std::int64_t q0 = 0; q0 < n; q0 += chunk) {
      MlaCoreArgs c = core_args(q0, std::min(chunk, n - q0));
      c.q_latent = q_latent + q0 * H * R;
      c.scores = scores;
      launch_mla_core(c, sm_count_, stream_);
    }
  }
  // o_h = W_UV,h õ_h; from the int8 õ it also leaves o's int8 copy for o_proj.
  headwise_linear(v_expand, H, o_latent, H * R, R, n, a.out, H * a.v_dim, nullptr,
                  o_latent_q8.q != nullptr ? &o_latent_q8 : nullptr, true);
}

void CudaBackend::indexer_select(const IndexerArgs& a) {
  if (a.n_queries <= 0) return;
  written_all();
  if (a.positions_bound <= 0)
    fail(ErrorKind::InvalidArgument, "indexer_select on CUDA needs positions_bound (an upper bound on positions + 1)");
  const std::int64_t chunk = std::clamp<std::int64_t>(kScoreFloats / a.positions_bound, 1,
                                                      std::min(a.n_queries, kMaxChunkQueries));
  float* scores = scratch<float>(Scratch::IndexScores, static_cast<std::size_t>(chunk * a.positions_bound));
  for (std::int64_t q0 = 0; q0 < a.n_queries; q0 += chunk) {
    IndexerCoreArgs c;
    c.nq = std::min(chunk, a.n_queries - q0);
    c.heads = a.heads;
    c.head_dim = a.head_dim;
    c.topk = a.topk;
    c.positions_bound = a.positions_bound;
    c.q = a.q + q0 * a.heads * a.head_dim;
    c.head_weights = a.head_weights + q0 * a.heads;
    c.keys = kv_view(a.keys);
    c.positions = a.positions + q0;
    c.scale = a.scale;
    c.scores = scores;
    c.selection = a.selection + q0 * a.topk;
    c.selection_count = a.selection_count + q0;
    launch_indexer(c, stream_);
  }
}

}  // namespace glmq
