// Sparse absorbed MLA for decode (few queries, CudaOptions::exact_decode false): flash-decoding over the
// selection with bf16 tensor-core tiles. One block per (query, split of kRows selected rows, group of kHeads heads)
// gathers the split's cached rows once into shared memory as bf16 (decoded from the cache's storage format,
// kv_decode.cuh), with the group's q̃ beside them (copied: the absorbing product writes q̃ as bf16 for this
// kernel; the short rope part converted here); scores come from mma.sync m16n8k16, then
// the split's softmax numerators (bf16, in shared memory) times the same rows give an unnormalised partial
// output per head with its (max, sum). A merge kernel combines the splits.
//
// Why not attention.cu's SIMT tiles at decode: they are bound by the latency of their barrier-separated steps
// and by shared-memory reads (~24 + 4 + 24 µs per GLM-5.2 layer for ~2.4–4.7 MB of latents); a SIMT
// flash-decoding kernel that re-read each row from shared memory per head was slower still (bench/cuda/README.md).
// Here a row is read from shared memory once per 16 heads (the MMA's M), and the probabilities never leave the SM.
//
// Accuracy: q̃, the latents and the probabilities are rounded to bf16 (products and sums stay float32), a relative
// error of a few 1e-3 on the output — the order of the int8 decode path's activation rounding, and the reason
// the exact path (CudaOptions::exact_decode) keeps attention.cu's float32 kernels.
#include <cuda_bf16.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/kv_decode.cuh"
#include "backend/cuda/q8_dot.cuh"

namespace glmq::cuda {

namespace {

// Selected rows per block (one split). 64 rather than 32: half the partial outputs to write and merge (4 instead
// of 8 MB per GLM-5.2 step) for the same tensor-core work per warp; the gather's loads stay in flight together.
// H100, in the decode graph: decode + merge 20.6 -> 17.0 us, layer 163.8 -> 157.1 us (mixed-3.5).
constexpr int kRows = 64;
constexpr int kHeads = 32;      // heads per block: 2 tiles of 16 (the MMA's M)
constexpr int kMaxHeads = 64;
// Selections up to this long (DSA's top-k; GLM-5.2 2048): the partial outputs are splits × heads × latent floats
// per query (≤ 16.8 MB at 64 heads × 512), the merge's split weights a shared-memory array.
constexpr std::int64_t kMaxSelection = 4096;
// Warp w: head tile w % 2, part w / 2 of the split's rows (scores: 8 rows each) and of the latent (P·V).
constexpr int kParts = kRows / 8;
// 16 warps gather the rows and multiply (with 8, 2 per scheduler, the gather's address arithmetic and load
// latency were exposed: ncu 0.68 instructions per cycle, 23 µs per GLM-5.2 launch).
constexpr int kDecodeThreads = 512;
static_assert(2 * kParts * 32 <= kDecodeThreads, "every (head tile, part) pair needs a warp");
constexpr int kMergeThreads = 256, kMergeCols = 128;  // merge: 32 column quads × 8 groups of splits
constexpr int kMergePrefetch = 8;  // splits per thread the merge loads before their weights (all of 4096 rows)
// bf16 per shared-memory row beyond its values: rows then start 16 bytes apart modulo 128 (row strides of an odd
// number of 16-byte units), so the 8 row addresses of an ldmatrix hit distinct banks.
constexpr int kPad = 8;
constexpr int kBatch = 8;       // 4-value units each thread loads before converting any (independent loads)
constexpr float kLog2e = 1.4426950408889634f;

// Shared memory: q̃ [kHeads × (K + kPad)] bf16, rows [kRows × (K + kPad)] bf16, probabilities
// [kHeads × (kRows + kPad)] bf16, per-part row maxima and sums [kParts × kHeads] floats each, positions [kRows].
std::size_t decode_smem_bytes(std::int64_t k) {
  return 2 * static_cast<std::size_t>((kHeads + kRows) * (k + kPad) + kHeads * (kRows + kPad)) +
         2 * sizeof(float) * kParts * kHeads + sizeof(std::int32_t) * kRows;
}

__device__ __forceinline__ std::uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // lo in the low half: the lower column of a fragment
  return *reinterpret_cast<const std::uint32_t*>(&v);
}

__device__ __forceinline__ uint2 pack_bf16x4(float4 a) { return make_uint2(pack_bf16(a.x, a.y), pack_bf16(a.z, a.w)); }

__device__ __forceinline__ std::uint32_t smem_address(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

// 8×8 bf16 matrices; lane l gives the address of row l % 8 of matrix l / 8.
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], const __nv_bfloat16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_address(p)));
}

__device__ __forceinline__ void ldmatrix_x2(std::uint32_t (&r)[2], const __nv_bfloat16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(smem_address(p)));
}

__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], const __nv_bfloat16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_address(p)));
}

// d += A·B for a 16×16 bf16 A (row-major fragment a) and a 16×8 B (fragment b0, b1), float32 accumulators.
__device__ __forceinline__ void mma_bf16(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Walks the units (row r, unit u) of rows of `units` units that thread threadIdx.x takes: unit index
// threadIdx.x + i·kDecodeThreads, by additions (a run-time division per unit cost more than the loads' issue).
struct UnitWalk {
  int units, dr, du, r, u;
  __device__ explicit UnitWalk(int n)
      : units(n), dr(kDecodeThreads / n), du(kDecodeThreads % n), r(static_cast<int>(threadIdx.x) / n),
        u(static_cast<int>(threadIdx.x) % n) {}
  __device__ __forceinline__ void advance(int& row, int& unit) const {
    row += dr;
    unit += du;
    if (unit >= units) {
      unit -= units;
      ++row;
    }
  }
  __device__ __forceinline__ void advance_batch(int& row, int& unit) const {
#pragma unroll
    for (int i = 0; i < kBatch; ++i) advance(row, unit);
  }
};

// Columns [col0, col0 + width) of the split's shared-memory rows from view v (format F): row r is cache row
// pos[r] (zeros where pos[r] < 0). Consecutive threads take consecutive 4-value units (coalesced rows), kBatch
// units per thread loaded before any is stored.
template <KvFormat F>
__device__ __forceinline__ void gather_rows(const KvView& v, const std::int32_t* pos, int width, int col0,
                                            __nv_bfloat16* rows, int stride) {
  const int units = width / 4;
  UnitWalk w(units);
  for (int r0 = w.r, u0 = w.u; r0 < kRows; w.advance_batch(r0, u0)) {
    float4 x[kBatch];
    int r = r0, u = u0;
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      const std::int64_t p = r < kRows ? pos[r] : -1;
      x[i] = p >= 0 ? kv_value4_as<F>(v, p, 4 * u) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      w.advance(r, u);
    }
    r = r0;
    u = u0;
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      if (r >= kRows) break;
      *reinterpret_cast<uint2*>(rows + r * stride + col0 + 4 * u) = pack_bf16x4(x[i]);
      w.advance(r, u);
    }
  }
}

// Columns [col0, col0 + width) of the split's rows from view v in any format (the format switch inside the
// loop: for the narrow rope part, one unit per thread at GLM-5.2's shapes).
__device__ __forceinline__ void gather_rows_any(const KvView& v, const std::int32_t* pos, int width, int col0,
                                                __nv_bfloat16* rows, int stride) {
  const int units = width / 4;
  for (int i = static_cast<int>(threadIdx.x); i < kRows * units; i += kDecodeThreads) {
    const int r = i / units, u = i % units;
    const std::int64_t p = pos[r];
    const float4 x = p >= 0 ? kv_value4(v, p, 4 * u) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    *reinterpret_cast<uint2*>(rows + r * stride + col0 + 4 * u) = pack_bf16x4(x);
  }
}

__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(smem_address(dst)), "l"(src) : "memory");
}

__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;" ::: "memory"); }

// grid: (splits, head groups of kHeads, queries). Partial outputs of split s of query t: part_o[((t·splits + s)·
// heads + h)·R + c] = Σ_j 2^(x_hj − m_h)·c_sel[j][c] over the split's rows j, part_ml[...] = (m_h, Σ_j 2^(x_hj −
// m_h)), where x_hj = log2(e)·scale·(q̃_h·c_j + q_pe_h·k_pe_j) and m_h its maximum over the split. Blocks of
// 64 rows × 32 heads: a GLM-5.2 decode step (64 heads, 2048 rows) is 64 blocks, each reading ~33 KB of bf16 q̃
// (+ 8 KB of float32 rope query) and its rows' latents. (64 rows × 64 heads per block, 32 blocks, took the same
// 22–24 µs under ncu as 32 × 32 with 8 warps.)
// One instantiation per latent format F, so each has a single unrolled gather path (the rope's gather is a short
// loop with the format switch inside): 8 unrolled variants, one per format of each view, made the kernel large.
template <KvFormat F>
__global__ void __launch_bounds__(kDecodeThreads)
    mla_decode_kernel(MlaCoreArgs a, int splits, float* part_o, float2* part_ml) {
  begin_dependent_kernel();
  const int t = static_cast<int>(blockIdx.z), s = static_cast<int>(blockIdx.x), h0 = kHeads * blockIdx.y;
  const int count = a.selection_count[t], j0 = s * kRows;
  if (j0 >= count) return;  // the merge reads only splits with rows
  const int R = static_cast<int>(a.latent_dim), rope = static_cast<int>(a.rope_dim), K = R + rope;
  const int heads = static_cast<int>(a.heads), block_heads = min(kHeads, heads - h0);
  const int ks = K + kPad;  // row stride of q̃ and of the rows, in bf16
  constexpr int ps = kRows + kPad;

  extern __shared__ __align__(16) unsigned char smem[];
  auto* sq = reinterpret_cast<__nv_bfloat16*>(smem);
  __nv_bfloat16* sc = sq + kHeads * ks;
  __nv_bfloat16* sp = sc + kRows * ks;
  auto* red_max = reinterpret_cast<float*>(sp + kHeads * ps);  // [kParts][kHeads]
  float* red_sum = red_max + kParts * kHeads;
  auto* pos = reinterpret_cast<std::int32_t*>(red_sum + kParts * kHeads);
  const int tid = static_cast<int>(threadIdx.x);

  const std::int32_t* sel = a.selection + static_cast<std::int64_t>(t) * a.selection_stride;
  if (tid < kRows) pos[tid] = j0 + tid < count ? sel[j0 + tid] : -1;

  // q̃ of the block's heads: copied as bf16 (the absorbing product wrote it so), 16 bytes at a time; heads past
  // `heads` zero.
  {
    const auto* qb =
        reinterpret_cast<const __nv_bfloat16*>(a.q_latent_bf16) + (static_cast<std::int64_t>(t) * a.heads + h0) * R;
    const int chunks = R / 8;
    for (int i = tid; i < kHeads * chunks; i += kDecodeThreads) {
      const int h = i / chunks, c = 8 * (i % chunks);
      if (h < block_heads)
        cp_async16(sq + h * ks + c, qb + static_cast<std::int64_t>(h) * R + c);
      else
        *reinterpret_cast<uint4*>(sq + h * ks + c) = make_uint4(0, 0, 0, 0);
    }
  }
  // The query's rope part, converted (rope/4 units per head).
  {
    const float* qr = a.q_rope + t * a.q_rope_token_stride + h0 * a.q_rope_head_stride;
    const int units = rope / 4;
    for (int i = tid; i < kHeads * units; i += kDecodeThreads) {
      const int h = i / units, u = i % units;
      const float4 x = h < block_heads ? *reinterpret_cast<const float4*>(qr + h * a.q_rope_head_stride + 4 * u)
                                       : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      *reinterpret_cast<uint2*>(sq + h * ks + R + 4 * u) = pack_bf16x4(x);
    }
  }
  __syncthreads();  // pos
  gather_rows<F>(a.latent, pos, R, 0, sc, ks);
  if (rope > 0) gather_rows_any(a.k_rope, pos, rope, R, sc, ks);
  cp_async_wait_all();
  __syncthreads();

  const int warp = tid / 32, lane = tid % 32, tile = warp % 2, part = warp / 2;
  const int g = lane / 4, cq = lane % 4;
  const bool active = warp < 2 * kParts && 16 * tile < block_heads;
  const int h_lo = 16 * tile + g, h_hi = h_lo + 8;  // this thread's accumulator rows (heads of the block)

  // Scores of the tile's 16 heads against rows [8·part, 8·part + 8) of the split, two accumulators (even and
  // odd k steps) for two independent MMA chains.
  float acc[4] = {};
  if (active) {
    float odd[4] = {};
    const __nv_bfloat16* qa = sq + (16 * tile + lane % 16) * ks + (lane / 16) * 8;
    const __nv_bfloat16* cb = sc + (8 * part + lane % 8) * ks + ((lane / 8) % 2) * 8;
    int k0 = 0;
#pragma unroll 4
    for (; k0 + 32 <= K; k0 += 32) {
      std::uint32_t q0[4], q1[4], c0[2], c1[2];
      ldmatrix_x4(q0, qa + k0);
      ldmatrix_x2(c0, cb + k0);
      ldmatrix_x4(q1, qa + k0 + 16);
      ldmatrix_x2(c1, cb + k0 + 16);
      mma_bf16(acc, q0, c0[0], c0[1]);
      mma_bf16(odd, q1, c1[0], c1[1]);
    }
    if (k0 < K) {  // K an odd multiple of 16
      std::uint32_t q0[4], c0[2];
      ldmatrix_x4(q0, qa + k0);
      ldmatrix_x2(c0, cb + k0);
      mma_bf16(acc, q0, c0[0], c0[1]);
    }
    // To the log2 domain; rows past the selection drop out (−inf).
    const float scale = a.scale * kLog2e;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int j = 8 * part + 2 * cq + (e & 1);
      acc[e] = j0 + j < count ? (acc[e] + odd[e]) * scale : -INFINITY;
    }
    float m_lo = fmaxf(acc[0], acc[1]), m_hi = fmaxf(acc[2], acc[3]);
#pragma unroll
    for (int o = 1; o <= 2; o <<= 1) {
      m_lo = fmaxf(m_lo, __shfl_xor_sync(0xffffffffu, m_lo, o));
      m_hi = fmaxf(m_hi, __shfl_xor_sync(0xffffffffu, m_hi, o));
    }
    if (cq == 0) {
      red_max[part * kHeads + h_lo] = m_lo;
      red_max[part * kHeads + h_hi] = m_hi;
    }
  }
  __syncthreads();
  // Numerators 2^(x − m) with m the split's maximum (all parts; every split has a row, so m is finite), as bf16
  // into shared memory for the P·V tiles; the sums add the rounded values that P·V multiplies.
  if (active) {
    float m_lo = -INFINITY, m_hi = -INFINITY;
#pragma unroll
    for (int p = 0; p < kParts; ++p) {
      m_lo = fmaxf(m_lo, red_max[p * kHeads + h_lo]);
      m_hi = fmaxf(m_hi, red_max[p * kHeads + h_hi]);
    }
    const int j = 8 * part + 2 * cq;
    const std::uint32_t lo = pack_bf16(exp2f(acc[0] - m_lo), exp2f(acc[1] - m_lo));
    const std::uint32_t hi = pack_bf16(exp2f(acc[2] - m_hi), exp2f(acc[3] - m_hi));
    *reinterpret_cast<std::uint32_t*>(sp + h_lo * ps + j) = lo;
    *reinterpret_cast<std::uint32_t*>(sp + h_hi * ps + j) = hi;
    const float2 flo = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&lo));
    const float2 fhi = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&hi));
    float l_lo = flo.x + flo.y, l_hi = fhi.x + fhi.y;
#pragma unroll
    for (int o = 1; o <= 2; o <<= 1) {
      l_lo += __shfl_xor_sync(0xffffffffu, l_lo, o);
      l_hi += __shfl_xor_sync(0xffffffffu, l_hi, o);
    }
    if (cq == 0) {
      red_sum[part * kHeads + h_lo] = l_lo;
      red_sum[part * kHeads + h_hi] = l_hi;
    }
  }
  __syncthreads();
  const std::int64_t part_row = (static_cast<std::int64_t>(t) * splits + s) * heads + h0;  // of head h0
  if (tid < block_heads) {
    float m = -INFINITY, l = 0.0f;
#pragma unroll
    for (int p = 0; p < kParts; ++p) m = fmaxf(m, red_max[p * kHeads + tid]);
#pragma unroll
    for (int p = 0; p < kParts; ++p) l += red_sum[p * kHeads + tid];
    part_ml[part_row + tid] = make_float2(m, l);
  }
  if (!active) return;

  // P·V: the tile's 16 heads × latent columns [part·R/4, (part + 1)·R/4), 16 at a time, over the split's rows.
  std::uint32_t pf[kRows / 16][4];
#pragma unroll
  for (int k = 0; k < kRows / 16; ++k) ldmatrix_x4(pf[k], sp + (16 * tile + lane % 16) * ps + 16 * k + (lane / 16) * 8);
  const int c_begin = part * (R / kParts), c_end = c_begin + R / kParts;
  const __nv_bfloat16* vb = sc + (lane % 8 + ((lane / 8) % 2) * 8) * ks + (lane / 16) * 8;
  float* out_lo = part_o + (part_row + h_lo) * R + 2 * cq;
  float* out_hi = part_o + (part_row + h_hi) * R + 2 * cq;
#pragma unroll 2
  for (int c0 = c_begin; c0 < c_end; c0 += 16) {
    float o[2][4] = {};
#pragma unroll
    for (int k = 0; k < kRows / 16; ++k) {
      std::uint32_t v[4];
      ldmatrix_x4_trans(v, vb + 16 * k * ks + c0);  // n-tiles c0, c0 + 8: {b0, b1} each
      mma_bf16(o[0], pf[k], v[0], v[1]);
      mma_bf16(o[1], pf[k], v[2], v[3]);
    }
#pragma unroll
    for (int n = 0; n < 2; ++n) {
      if (h_lo < block_heads) *reinterpret_cast<float2*>(out_lo + c0 + 8 * n) = make_float2(o[n][0], o[n][1]);
      if (h_hi < block_heads) *reinterpret_cast<float2*>(out_hi + c0 + 8 * n) = make_float2(o[n][2], o[n][3]);
    }
  }
}

// grid: (queries × heads, column blocks of kMergeCols). o_latent = Σ_s 2^(m_s − M)·O_s / Σ_s 2^(m_s − M)·l_s over
// the query's splits with rows; 8 groups of threads take every 8th split each, so a thread has few dependent
// steps (one thread per column over every split was 18 µs per GLM-5.2 layer, its loop a chain of L2 round trips).
__global__ void __launch_bounds__(kMergeThreads) mla_decode_merge_kernel(MlaCoreArgs a, int splits, const float* part_o,
                                                                         const float2* part_ml) {
  begin_dependent_kernel();
  extern __shared__ float weight[];  // [splits]: 2^(m_s − M)
  __shared__ float4 red[kMergeThreads / 32][32];
  __shared__ float inv;
  const std::int64_t heads = a.heads, R = a.latent_dim;
  const std::int64_t t = blockIdx.x / heads, h = blockIdx.x % heads;
  const int count = a.selection_count[t];
  const int used = (count + kRows - 1) / kRows;
  const float2* ml = part_ml + t * splits * heads + h;
  const int tid = static_cast<int>(threadIdx.x), lane = tid % 32, group = tid / 32;
  constexpr int kGroups = kMergeThreads / 32;
  // The first kMergePrefetch splits' partial outputs of this thread are loaded before the split weights are
  // known (they wait on the (m, l) loads and the reductions below), so the two round trips overlap.
  const std::int64_t c = blockIdx.y * kMergeCols + 4 * lane;
  const float* po = part_o + (t * splits * heads + h) * R + c;
  float4 early[kMergePrefetch];
#pragma unroll
  for (int i = 0; i < kMergePrefetch; ++i) {
    const int sp = group + i * kGroups;
    early[i] = c < R && sp < used ? *reinterpret_cast<const float4*>(po + sp * heads * R) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
  if (group == 0) {
    float m = -INFINITY;
    for (int s = lane; s < used; s += 32) m = fmaxf(m, ml[s * heads].x);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float l = 0.0f;
    for (int s = lane; s < used; s += 32) {
      const float2 v = ml[s * heads];
      const float w = exp2f(v.x - m);
      weight[s] = w;
      l += w * v.y;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
    if (lane == 0) inv = used > 0 ? 1.0f / l : 0.0f;  // no selected row: zeros, as attention.cu's kernels give
  }
  __syncthreads();
  float4 sum = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  if (c < R) {
#pragma unroll
    for (int i = 0; i < kMergePrefetch; ++i) {
      const int sp = group + i * kGroups;
      const float w = sp < used ? weight[sp] : 0.0f;
      sum.x += w * early[i].x;
      sum.y += w * early[i].y;
      sum.z += w * early[i].z;
      sum.w += w * early[i].w;
    }
#pragma unroll 4
    for (int s = group + kMergePrefetch * kGroups; s < used; s += kGroups) {
      const float w = weight[s];
      const float4 v = *reinterpret_cast<const float4*>(po + s * heads * R);
      sum.x += w * v.x;
      sum.y += w * v.y;
      sum.z += w * v.z;
      sum.w += w * v.w;
    }
  }
  red[group][lane] = sum;
  __syncthreads();
  if (group == 0) {
#pragma unroll
    for (int i = 1; i < kMergeThreads / 32; ++i) {
      sum.x += red[i][lane].x;
      sum.y += red[i][lane].y;
      sum.z += red[i][lane].z;
      sum.w += red[i][lane].w;
    }
    const float4 o = make_float4(sum.x * inv, sum.y * inv, sum.z * inv, sum.w * inv);
    const std::int64_t row = t * heads + h;
    if (c < R) {
      *reinterpret_cast<float4*>(a.o_latent + row * R + c) = o;
      // Blocks of 32 columns are 8 lanes, all in or all out of range (R is a multiple of 64).
      if (a.o_latent_q8.q != nullptr)
        quantize_quad(o, 0xFFu << (lane & ~7), a.o_latent_q8.q + row * R + c, a.o_latent_q8.ds + (row * R + c) / 32);
    }
  }
}

int decode_splits(const MlaCoreArgs& a) { return static_cast<int>((a.selection_stride + kRows - 1) / kRows); }

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

}  // namespace

bool mla_decode_applies(const MlaCoreArgs& a) {
  const std::int64_t k = a.latent_dim + a.rope_dim;
  // Latent quarters of whole 16-column steps, 16-deep k steps, 16-byte q̃ loads, and shared memory within the
  // Hopper per-block limit (227 KB).
  return a.nq >= 1 && a.heads >= 1 && a.heads <= kMaxHeads && a.latent_dim % (16 * kParts) == 0 && a.rope_dim % 16 == 0 &&
         decode_smem_bytes(k) <= 227 * 1024 && a.q_rope_token_stride % 4 == 0 && a.q_rope_head_stride % 4 == 0 &&
         a.q_latent_bf16 != nullptr && aligned16(a.q_latent_bf16) && aligned16(a.q_rope) && a.selection_stride >= 1 &&
         a.selection_stride <= kMaxSelection;
}

std::size_t mla_decode_partial_floats(const MlaCoreArgs& a) {
  return static_cast<std::size_t>(a.nq * decode_splits(a) * a.heads * (a.latent_dim + 2));
}

void launch_mla_decode(const MlaCoreArgs& a, float* partial, cudaStream_t s) {
  if (a.nq <= 0) return;
  const std::size_t smem = decode_smem_bytes(a.latent_dim + a.rope_dim);
  // Raised once to the largest size applies() allows (a function attribute, not a stream operation; the first
  // call is an eager decode step, before any graph capture).
  static const bool raised = [] {
    for (auto* k : {mla_decode_kernel<KvFormat::F32>, mla_decode_kernel<KvFormat::F16>, mla_decode_kernel<KvFormat::Q8>,
                    mla_decode_kernel<KvFormat::Q4>})
      check(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, 227 * 1024), "mla_decode shared memory");
    return true;
  }();
  (void)raised;
  auto* kernel = a.latent.format == KvFormat::F32   ? mla_decode_kernel<KvFormat::F32>
                 : a.latent.format == KvFormat::F16 ? mla_decode_kernel<KvFormat::F16>
                 : a.latent.format == KvFormat::Q8  ? mla_decode_kernel<KvFormat::Q8>
                                                    : mla_decode_kernel<KvFormat::Q4>;
  const int splits = decode_splits(a);
  float* part_o = partial;
  auto* part_ml = reinterpret_cast<float2*>(partial + a.nq * splits * a.heads * a.latent_dim);
  const auto head_groups = static_cast<unsigned>((a.heads + kHeads - 1) / kHeads);
  launch("mla_decode", kernel, dim3(static_cast<unsigned>(splits), head_groups, static_cast<unsigned>(a.nq)),
         kDecodeThreads, smem, s, a, splits, part_o, part_ml);
  const auto col_blocks = static_cast<unsigned>((a.latent_dim + kMergeCols - 1) / kMergeCols);
  launch("mla_decode_merge", mla_decode_merge_kernel, dim3(static_cast<unsigned>(a.nq * a.heads), col_blocks),
         kMergeThreads, sizeof(float) * splits, s, a, splits, static_cast<const float*>(part_o),
         static_cast<const float2*>(part_ml));
}

}  // namespace glmq::cuda
