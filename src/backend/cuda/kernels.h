#pragma once
// Host-callable launchers of the CUDA backend's kernels (defined in the .cu files beside this header).
// Every launcher is asynchronous on `stream` and checks the launch; none synchronises with the host.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "backend/cuda/device_weight.h"
#include "backend/kv_rows.h"

namespace glmq::cuda {

// A KvRows view as kernels take it (kv_decode.cuh reads it): the group size as a shift, so a value's group
// is an index shift rather than a division in the attention and indexer inner loops.
struct KvView {
  KvFormat format = KvFormat::F32;
  std::int64_t width = 0, groups = 0;
  int group_shift = 0;
  std::uint8_t* data = nullptr;
  std::uint16_t* scales = nullptr;
  std::uint16_t* biases = nullptr;
};
// Fails (InvalidArgument) on a quantized view whose group size is not a power of two.
KvView kv_view(const KvRows& rows);

// --- kv_rows.cu: rows [first, first + n) of a cache from float rows (src_stride apart) and back (dst rows
// width apart). Quantized codes equal the CPU backend's (same float16 rounding, same IEEE arithmetic).
// Row r of src to cache row rows[r] (device memory) where rows is given, else to first + r.
void launch_store_kv_rows(const KvView& dst, std::int64_t first, const std::int32_t* rows, const float* src,
                          std::int64_t src_stride, std::int64_t n, cudaStream_t stream);
void launch_load_kv_rows(const KvView& src, std::int64_t first, std::int64_t n, float* dst, cudaStream_t stream);

// --- elementwise.cu
void launch_fill(float* x, float value, std::int64_t count, cudaStream_t stream);
void launch_add(float* x, const float* y, std::int64_t count, cudaStream_t stream);
void launch_scale(float* x, float s, std::int64_t count, cudaStream_t stream);
void launch_silu_mul(const float* gate, const float* up, std::int64_t count, float* out, cudaStream_t stream);
void launch_copy_rows(float* dst, std::int64_t dst_stride, const float* src, std::int64_t src_stride, std::int64_t n,
                      std::int64_t width, cudaStream_t stream);
// out[t, :] = row tokens[t] of the table as float32.
void launch_embed(const DeviceWeight& table, const std::int32_t* tokens, std::int64_t n, float* out, cudaStream_t stream);
// Rows [first, first + count) of w as float32 or bf16 ([count × cols], row-major).
void launch_dequantize_f32(const DeviceWeight& w, std::int64_t first, std::int64_t count, float* out, cudaStream_t stream);
void launch_dequantize_bf16(const DeviceWeight& w, std::int64_t first, std::int64_t count, std::uint16_t* out,
                            cudaStream_t stream);
void launch_to_bf16(const float* x, std::int64_t count, std::uint16_t* out, cudaStream_t stream);
// dst[i, :] = src[rows[i], :] for i < n (width floats per row).
void launch_gather_rows(const float* src, const std::int32_t* rows, std::int64_t n, std::int64_t width, float* dst,
                        cudaStream_t stream);
// dst[rows[i], :] += weights[i] · src[i, :] for i < n, in order (rows may repeat only across launches).
void launch_scatter_add_rows(const float* src, const std::int32_t* rows, const float* weights, std::int64_t n,
                             std::int64_t width, float* dst, cudaStream_t stream);

// --- norm_rope.cu
void launch_rms_norm(const float* x, std::int64_t x_stride, const float* w, std::int64_t n, std::int64_t dim, float eps,
                     float* y, cudaStream_t stream);
void launch_layer_norm(const float* x, const float* w, const float* b, std::int64_t n, std::int64_t dim, float eps, float* y,
                       cudaStream_t stream);
struct RopeTable {
  static constexpr int kMaxHalf = 128;
  float inv_freq[kMaxHalf];
  int half = 0;
  float attention_factor = 1.0f;
  bool interleaved = true;
};
void launch_rope(float* x, std::int64_t n, std::int64_t row_stride, std::int64_t heads, std::int64_t head_stride,
                 std::int64_t offset, const std::int32_t* positions, const RopeTable& table, cudaStream_t stream);

// --- matvec.cu: y = W·x for few tokens, weights read once per token at full bandwidth.
// W's rows split into `segments` equal runs; segment s multiplies x + s·x_segment_stride (per-head absorbed
// MLA matrices); plain linear layers have one segment.
struct MatvecArgs {
  DeviceWeight w;
  std::int64_t segments = 1;
  std::int64_t n_tokens = 1;
  const float* x = nullptr;
  std::int64_t x_token_stride = 0, x_segment_stride = 0;
  float* y = nullptr;
  std::int64_t y_token_stride = 0;  // y[t·y_token_stride + row]; bf16 values instead where a launch asks for them
};
// bf16_y: y holds bf16 values (std::uint16_t) rather than floats. (A flag of the launch rather than a MatvecArgs
// field: a larger argument struct changed the register allocation of every matvec instantiation.)
void launch_matvec(const MatvecArgs& args, int sm_count, cudaStream_t stream, bool bf16_y = false);

// --- swiglu_grouped.cu: SwiGLU blocks over routed experts in one launch per stage, for few tokens.
struct GroupedSwigluArgs {
  const DeviceSwiglu* table = nullptr;   // device array indexed by expert id
  DeviceSwiglu probe;                    // host copy of one entry: every entry has its types and shapes
  const std::int32_t* expert_ids = nullptr;  // [n_slots] device, or null: every slot uses table[0]
  std::int64_t n_slots = 0, top_k = 1;   // slot s reads x row s / top_k
  const float* x = nullptr;              // [tokens × hidden]
  float* h = nullptr;                    // [n_slots × inter] scratch: silu(gate·x) ⊙ up·x
  const float* slot_weights = nullptr;   // [n_slots] or null (weight 1)
  float* y = nullptr;                    // [n_slots × hidden]: slot_weight · down·h
};
void launch_grouped_swiglu(const GroupedSwigluArgs& args, int sm_count, cudaStream_t stream);
// out[t, :] += Σ_k y[t·top_k + k, :]
void launch_sum_slots(const float* y, std::int64_t n_tokens, std::int64_t top_k, std::int64_t width, float* out,
                      cudaStream_t stream);

// --- matvec_q8.cu / swiglu_q8.cu: the int8 decode path (CudaOptions::exact_decode false). Activations are
// quantized per block of 32 to int8 with a float scale and the block's exact float sum (Q8View rows of
// `cols` codes); the kernels multiply packed weight codes with them by dp4a.
struct Q8View {
  std::int8_t* q = nullptr;  // row v: q + v·cols
  float2* ds = nullptr;      // row v: ds + v·cols/32, {scale, Σx} per block
  std::int64_t cols = 0;
};
// Bytes of a buffer for `rows` rows of `cols` int8 activations, and the view of such a buffer.
std::size_t q8_bytes(std::int64_t rows, std::int64_t cols);
Q8View q8_view(void* buffer, std::int64_t rows, std::int64_t cols);
// Whether the int8 kernels take w (its type has an int8 unit, rows of whole 32-blocks).
bool q8_applies(const DeviceWeight& w);
// Quantizes n_tok × segments rows of `cols` floats, row (t, s) at x + t·tok_stride + s·seg_stride, into rows
// t·segments + s of out.
// RMSNorm (as launch_rms_norm) that also writes y as int8 rows into out, where rms_norm_q8_applies: dims of
// whole blocks of 32 up to 8192, rows read and written 16 bytes at a time (x's row stride a multiple of 4 floats,
// and `rows`, the row pointers the norm reads and writes, 16-byte aligned).
bool rms_norm_q8_applies(std::int64_t dim, std::int64_t x_stride, std::initializer_list<const float*> rows);
void launch_rms_norm_q8(const float* x, std::int64_t x_stride, const float* w, std::int64_t n, std::int64_t dim, float eps,
                        float* y, const Q8View& out, cudaStream_t stream);
// x += y (rows of dim values, dense), then as launch_rms_norm_q8 on x.
void launch_add_rms_norm_q8(float* x, const float* y, const float* w, std::int64_t n, std::int64_t dim, float eps, float* out,
                            const Q8View& out_q8, cudaStream_t stream);
void launch_quantize_q8(const float* x, std::int64_t n_tok, std::int64_t segments, std::int64_t tok_stride,
                        std::int64_t seg_stride, std::int64_t cols, const Q8View& out, cudaStream_t stream);
// As launch_matvec, with token t segment s multiplying row t·segments + s of xq (a.x is not read).
void launch_matvec_q8(const MatvecArgs& args, const Q8View& xq, int sm_count, cudaStream_t stream, bool bf16_y = false);
// As launch_matvec_q8 from the float activations a.x, which every block quantizes for its own segment after its
// wait, with no quantization launch before: where matvec_q8_quantizes_x (rows of at most 1024 values, segments
// of whole 64-row runs, x 16-byte aligned with strides of whole float4s). The rounding is quantize_q8's.
bool matvec_q8_quantizes_x(const MatvecArgs& args);
void launch_matvec_q8_quantize_x(const MatvecArgs& args, cudaStream_t stream, bool bf16_y = false);
// As launch_matvec_q8, also writing y as int8 rows (yq: n_tokens rows of w.rows codes), the next product's
// activations: where matvec_q8_quantizes_y (fewer than 1536 columns, segments of whole 64-row runs, y
// dense per token). The rounding is quantize_q8's.
bool matvec_q8_quantizes_y(const MatvecArgs& args);
void launch_matvec_q8_quantize_y(const MatvecArgs& args, const Q8View& xq, const Q8View& yq, cudaStream_t stream);
// Up to four products of the same int8 activations in one launch (Backend::linears): where matvec_q8_batches
// (one weight type and width, every one q8_applies); one segment each, float outputs, each optionally rotated.
// The rotary embedding a batched product applies to its outputs before storing them (Backend::linears'
// RotaryOutput): in every head (head_stride rows apart), rows [offset, offset + 2·table.half) rotated as
// interleaved pairs (2k, 2k + 1) by positions[t]; positions null: none. Where matvec_q8_rotates.
struct RopeEpilogue {
  const std::int32_t* positions = nullptr;
  std::int64_t head_stride = 0, offset = 0;
  RopeTable table;
};
// Whether the batched product's epilogue can rotate this way: interleaved pairs that no row group splits (even
// head stride and offset), within each head.
bool matvec_q8_rotates(const RopeTable& table, std::int64_t head_stride, std::int64_t offset);
struct MatvecQ8Batch {
  static constexpr int kMax = 4;
  MatvecArgs m[kMax];
  RopeEpilogue rope[kMax];
  int first_block[kMax + 1] = {};  // product i takes blocks [first_block[i], first_block[i + 1])
  int count = 0, split = 1;
};
bool matvec_q8_batches(const DeviceWeight* const* weights, std::size_t count);
// ropes: null, or one RopeEpilogue per product (positions null for a product without one).
void launch_matvec_q8_batch(const MatvecArgs* products, std::size_t count, const Q8View& xq, int sm_count,
                            cudaStream_t stream, const RopeEpilogue* ropes = nullptr);
struct GroupedSwigluQ8Args {
  const DeviceSwiglu* table = nullptr;       // device array indexed by expert id
  DeviceSwiglu probe;                        // host copy of one entry
  const std::int32_t* expert_ids = nullptr;  // [n_slots] device, or null: every slot uses table[0]
  std::int64_t n_tokens = 0, n_slots = 0, top_k = 1;  // slot s belongs to token s / top_k
  Q8View x;                                  // [n_tokens × hidden]
  Q8View h;                                  // [n_slots × inter] scratch
  const float* slot_weights = nullptr;       // [n_slots] or null (weight 1)
  float* out = nullptr;                      // [n_tokens × hidden]: (+)= Σ_k weight·down·h_k
  bool accumulate = false;
};
// Whether the int8 grouped kernels take these experts (their types have int8 units, inter a multiple of 32,
// at most 8 slots per token).
bool swiglu_q8_applies(const DeviceSwiglu& probe, std::int64_t top_k);
// The two stages, launched one after the other (other work may come between them): h = silu(gate·x) ⊙ up·x
// per slot, then out (+)= Σ_k weight·down·h_k (its block shape chosen for the device's sm_count).
void launch_grouped_gate_up_q8(const GroupedSwigluQ8Args& args, cudaStream_t stream);
void launch_grouped_down_q8(const GroupedSwigluQ8Args& args, int sm_count, cudaStream_t stream);

// Whether rows of w are read as float rows (float_rows.cuh) by blocks of `threads`: a float type (F32, F16,
// BF16), 16-byte aligned rows of whole 16-byte pieces that fit four pieces per thread. (matvec.cu)
bool float_rows_apply(const DeviceWeight& w, int threads);

// --- attention_entry.cu: Backend::attention_entry of a decode step in one launch, a block per token for each
// of q_a's RMSNorm (with its int8 copy, the input of q_b), the latent (RMSNorm, to the cache), the shared rope
// key (rotation, to the cache), the indexer key (LayerNorm, rotation, to the cache) and each of the indexer's
// head weights (a row of its small product of the hidden state, scaled).
constexpr int kAttentionEntryThreads = 512;
struct AttentionEntryKernelArgs {
  static constexpr int kMaxChunks = 8;
  int n = 0;
  const std::int32_t* positions = nullptr;
  float eps = 0.0f;
  const float* q_a = nullptr;
  int q_lora = 0;
  const float* q_a_norm = nullptr;
  float* q_a_normed = nullptr;
  Q8View q_a_q8;
  float* kv_a = nullptr;
  int latent_dim = 0, rope_dim = 0;
  const float* kv_a_norm = nullptr;
  float* latent = nullptr;
  RopeTable rope;
  float* index_key = nullptr;  // null: no indexer blocks
  int index_dim = 0, index_heads = 0;
  const float* index_norm_weight = nullptr;
  const float* index_norm_bias = nullptr;
  float index_eps = 0.0f, head_weight_scale = 1.0f;
  float* head_weights = nullptr;
  DeviceWeight head_weight_proj;  // [index_heads × hidden_dim], any type
  bool head_weight_rows = false;  // read as float rows (float_rows.cuh: float_rows_apply with 512 threads)
  const float* hidden = nullptr;
  int hidden_dim = 0;
  RopeTable index_rope;
  int chunk_end[kMaxChunks] = {};  // rows [chunk_end[c − 1], chunk_end[c]) go to chunk c's caches
  KvView latent_cache[kMaxChunks], k_rope_cache[kMaxChunks], index_key_cache[kMaxChunks];
};
// Whether the launch takes these shapes: q_lora as rms_norm_q8_applies, latent, rope and indexer-key rows of at
// most 512 values, at most kMaxChunks chunks.
bool attention_entry_applies(const AttentionEntryKernelArgs& args, std::size_t chunks);
void launch_attention_entry(const AttentionEntryKernelArgs& args, cudaStream_t stream);

// --- route.cu: sigmoid router with correction bias and group-limited top-k (one block per token).
struct RouteArgs {
  std::int64_t n_tokens = 0, n_experts = 0, top_k = 0, n_group = 1, topk_group = 1;
  bool norm_topk_prob = true;
  float routed_scaling_factor = 1.0f;
  const float* logits = nullptr;
  const float* correction_bias = nullptr;  // device
  std::int32_t* experts = nullptr;
  float* weights = nullptr;
};
void launch_moe_route(const RouteArgs& args, cudaStream_t stream);

// --- attention.cu: the sparse absorbed-MLA core for queries [q0, q0 + nq).
struct MlaCoreArgs {
  std::int64_t nq = 0, heads = 0, rope_dim = 0, latent_dim = 0;
  const float* q_latent = nullptr;  // [nq × heads × latent_dim]  (W_UKᵀ q_nope)
  const std::uint16_t* q_latent_bf16 = nullptr;  // the same as bf16: mla_decode's q̃ (q_latent not read there)
  const float* q_rope = nullptr;    // query t head h rope part at q_rope + t·q_rope_token_stride + h·q_rope_head_stride
  std::int64_t q_rope_token_stride = 0, q_rope_head_stride = 0;
  KvView latent;                    // cache [positions × latent_dim]
  KvView k_rope;                    // cache [positions × rope_dim]
  const std::int32_t* selection = nullptr;  // query t: selection + t·selection_stride, count selection_count[t]
  const std::int32_t* selection_count = nullptr;
  std::int64_t selection_stride = 0;
  float scale = 1.0f;
  float* scores = nullptr;          // scratch [nq × heads × selection_stride]
  float* o_latent = nullptr;        // [nq × heads × latent_dim] out
  // mla_decode only: when o_latent_q8.q is set, the merge also writes o_latent as int8 blocks (rows t·heads + h
  // of latent_dim), the input of the value expansion, which then needs no quantization launch of its own.
  Q8View o_latent_q8;
};
void launch_mla_core(const MlaCoreArgs& args, int sm_count, cudaStream_t stream);
// mla_decode.cu: the same for few queries (the decode path) with bf16 tensor-core tiles, split over the
// selection (flash-decoding) with `partial` a work buffer of mla_decode_partial_floats(args) floats; `scores` is
// not used; it reads q̃ from q_latent_bf16. Only for shapes with mla_decode_applies (at most 64 heads, latent a
// multiple of 64, rope of 16).
bool mla_decode_applies(const MlaCoreArgs& args);
std::size_t mla_decode_partial_floats(const MlaCoreArgs& args);
void launch_mla_decode(const MlaCoreArgs& args, float* partial, cudaStream_t stream);

// --- indexer.cu: DSA lightning-indexer scores and causal top-k for queries [0, nq).
struct IndexerCoreArgs {
  std::int64_t nq = 0, heads = 0, head_dim = 0, topk = 0;
  std::int64_t positions_bound = 0;  // > every positions[t]
  const float* q = nullptr;          // [nq × heads × head_dim]
  const float* head_weights = nullptr;  // [nq × heads]
  KvView keys;                       // cache [positions × head_dim]
  const std::int32_t* positions = nullptr;
  float scale = 1.0f;
  float* scores = nullptr;           // scratch [nq × positions_bound]
  std::int32_t* selection = nullptr;
  std::int32_t* selection_count = nullptr;
};
void launch_indexer(const IndexerCoreArgs& args, cudaStream_t stream);

}  // namespace glmq::cuda
