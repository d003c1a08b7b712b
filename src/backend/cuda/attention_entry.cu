// Backend::attention_entry of a decode step as one kernel: the short ops between the products of the normed
// hidden state and those of the normed q_a. Issued as three chains of one-block kernels on side streams, they
// waited behind q_b's blocks for the multiprocessors and the join before the absorption waited for them (5 µs a
// layer in the timeline); here each token's jobs are blocks of one launch on the main stream.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/float_rows.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/kv_store.cuh"
#include "backend/cuda/norm_rope.cuh"

namespace glmq::cuda {

namespace {

// Rows of the latent, rope and indexer-key jobs are at most one value per thread; q_a's norm takes the int8
// norm's block.
constexpr int kEntryThreads = kAttentionEntryThreads;
static_assert(kEntryThreads == kNormQ8Threads);

// Jobs per token, a block each: blocks [0, n) q_a's RMSNorm of token b; [n, 2n) the latent; [2n, 3n) the
// shared rope key; [3n, 4n) the indexer key; then n·index_heads blocks, each one head weight of one token (a
// row of the 32-row head-weight product: as a separate launch its few blocks took 6 µs). Each reads its row
// once (a value per thread), keeps it in registers and shared memory, and writes the cache rows from shared
// memory: a chain of round trips to L2 in one block is the job's time.
__global__ void __launch_bounds__(kEntryThreads) attention_entry_kernel(const __grid_constant__ AttentionEntryKernelArgs a) {
  allow_dependents();
  __shared__ __align__(16) float row[kEntryThreads];
  const int job = min(static_cast<int>(blockIdx.x) / a.n, 4), t = static_cast<int>(blockIdx.x) % a.n;
  const int tid = static_cast<int>(threadIdx.x);
  if (job == 4) {  // head weight h of a token: blocks 4n + token·index_heads + h
    const int k = static_cast<int>(blockIdx.x) - 4 * a.n, token = k / a.index_heads, h = k % a.index_heads;
    const float* x = a.hidden + std::int64_t{token} * a.hidden_dim;
    float sum = 0.0f;
    if (a.head_weight_rows) {  // float-typed rows, loaded before the wait
      FloatRowPieces p;
      load_float_row(a.head_weight_proj, h, p);
      wait_for_inputs();
      sum = float_row_dot(a.head_weight_proj, p, x);
    } else {  // any other type, element by element (a quantized 8-bit projection of a small model)
      wait_for_inputs();
#pragma unroll 4
      for (int i = tid; i < a.hidden_dim; i += kEntryThreads) sum += weight_element(a.head_weight_proj, h, i) * x[i];
    }
    sum = block_sum(sum);
    if (tid == 0) a.head_weights[std::int64_t{token} * a.index_heads + h] = sum * a.head_weight_scale;
    return;
  }
  if (job == 0) {
    const std::int64_t r = std::int64_t{t} * a.q_lora;
    // Read-only here: the norm writes x only when given a residual.
    rms_norm_q8_row(const_cast<float*>(a.q_a) + r, nullptr, a.q_a_norm, a.q_lora, a.eps, a.q_a_normed + r,
                    a.q_a_q8.q + r, a.q_a_q8.ds + r / 32);
    return;
  }
  // The norms' weights never change: loaded before the wait.
  const float* weight = job == 1 ? a.kv_a_norm : job == 3 ? a.index_norm_weight : nullptr;
  const int width = job == 1 ? a.latent_dim : job == 2 ? a.rope_dim : a.index_dim;
  const float w = weight && tid < width ? __ldg(weight + tid) : 0.0f;
  const float b = job == 3 && tid < width ? __ldg(a.index_norm_bias + tid) : 0.0f;
  wait_for_inputs();
  int c = 0;
  while (c + 1 < AttentionEntryKernelArgs::kMaxChunks && t >= a.chunk_end[c]) ++c;
  const std::int64_t pos = a.positions[t];
  const int R = a.latent_dim;
  float* kv = a.kv_a + std::int64_t{t} * (R + a.rope_dim);
  if (job == 1) {  // the latent: RMSNorm (as rms_norm_row), to `latent` and the cache
    const float x = tid < R ? kv[tid] : 0.0f;
    const float inv = rsqrtf(block_sum(x * x) / static_cast<float>(R) + a.eps);
    const float y = w * (x * inv);
    if (tid < R) {
      row[tid] = y;
      a.latent[std::int64_t{t} * R + tid] = y;
    }
    __syncthreads();
    store_kv_row(a.latent_cache[c], pos, row);
    return;
  }
  if (job == 2) {  // the shared rope key: rotated in place and to the cache
    float* k = kv + R;
    if (tid < a.rope_dim) row[tid] = k[tid];
    __syncthreads();
    rope_row(row, static_cast<float>(pos), a.rope);
    __syncthreads();
    if (tid < a.rope_dim) k[tid] = row[tid];
    store_kv_row(a.k_rope_cache[c], pos, row);
    return;
  }
  // The indexer key: LayerNorm (as layer_norm_row), rotated, in place and to the cache.
  const int D = a.index_dim;
  float* key = a.index_key + std::int64_t{t} * D;
  const float x = tid < D ? key[tid] : 0.0f;
  const float mean = block_sum(x) / static_cast<float>(D);
  const float d = tid < D ? x - mean : 0.0f;
  const float inv = rsqrtf(block_sum(d * d) / static_cast<float>(D) + a.index_eps);
  if (tid < D) row[tid] = (x - mean) * inv * w + b;
  __syncthreads();
  rope_row(row, static_cast<float>(pos), a.index_rope);
  __syncthreads();
  if (tid < D) key[tid] = row[tid];
  store_kv_row(a.index_key_cache[c], pos, row);
}

}  // namespace

bool attention_entry_applies(const AttentionEntryKernelArgs& a, std::size_t chunks) {
  const bool head_weights = a.index_key == nullptr || !a.head_weight_rows ||
                            (reinterpret_cast<std::uintptr_t>(a.hidden) % 16 == 0 && a.hidden_dim % 4 == 0);
  return head_weights && a.n > 0 && chunks >= 1 && chunks <= static_cast<std::size_t>(AttentionEntryKernelArgs::kMaxChunks) &&
         rms_norm_q8_applies(a.q_lora, a.q_lora, {a.q_a, a.q_a_normed, a.q_a_norm}) && a.latent_dim <= kEntryThreads &&
         a.rope_dim <= kEntryThreads && a.index_dim <= kEntryThreads;
}

void launch_attention_entry(const AttentionEntryKernelArgs& a, cudaStream_t s) {
  const auto n = static_cast<unsigned>(a.n);
  const unsigned blocks = a.index_key ? 4u * n + n * static_cast<unsigned>(a.index_heads) : 3u * n;
  launch("attention_entry", attention_entry_kernel, blocks, kEntryThreads, 0, s, a);
}

}  // namespace glmq::cuda
