#pragma once
// The op interface the forward pass is written against. Activations are float32 row-major
// buffers owned by the caller in the backend's memory; weights are WeightMatrix views in their stored type.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/kv_rows.h"
#include "quant/weight_matrix.h"

namespace glmq {

// A SwiGLU feed-forward block: down(silu(gate·x) ⊙ up·x). Dense MLPs and every expert are one.
struct SwigluWeights {
  WeightMatrix gate, up, down;
};

struct RopeSpec {
  std::vector<float> inv_freq;  // rope_dim / 2 frequencies (yarn-corrected where configured)
  float attention_factor = 1.0f;  // multiplies cos and sin (HF yarn)
  bool interleaved = true;        // pairs (2k, 2k+1) when true, (k, k + rope_dim/2) when false
};

// Rotary embedding of a product's output (LinearTarget::rope): in each of `heads` heads, `head_stride` values
// apart in a row of y, the spec's rope dimensions from `offset` on, rotated by positions[t] for token t.
struct RotaryOutput {
  const RopeSpec* spec = nullptr;
  const std::int32_t* positions = nullptr;
  std::int64_t heads = 0, head_stride = 0, offset = 0;
};

// One product of Backend::linears: y = W x for W's rows, then y's rope dimensions rotated where `rope` is set.
struct LinearTarget {
  const WeightMatrix* w = nullptr;
  float* y = nullptr;
  const RotaryOutput* rope = nullptr;
};

// Sparse absorbed MLA attention (DESIGN principle 3): scores against the cached latent c_j directly.
struct MlaAttentionArgs {
  std::int64_t n_queries = 0;
  std::int64_t heads = 0, nope_dim = 0, rope_dim = 0, v_dim = 0, latent_dim = 0;
  const float* q = nullptr;        // [n_queries × heads × (nope_dim + rope_dim)], rope part already rotated
  KvRows latent;                   // cache: [positions × latent_dim], normalised latent c
  KvRows k_rope;                   // cache: [positions × rope_dim], rotated shared rope key
  const std::int32_t* selection = nullptr;  // per query: selection_count[t] cache positions at selection + t·stride
  const std::int32_t* selection_count = nullptr;
  std::int64_t selection_stride = 0;
  WeightMatrix k_absorb;           // [heads·latent_dim, nope_dim]: per head W_UKᵀ (q̃ = W_UKᵀ q_nope)
  WeightMatrix v_expand;           // [heads·v_dim, latent_dim]: per head W_UV (o = W_UV õ)
  float scale = 1.0f;
  float* out = nullptr;            // [n_queries × heads × v_dim]
};

// The DSA lightning indexer's scoring and top-k selection for a run of queries.
struct IndexerArgs {
  std::int64_t n_queries = 0, heads = 0, head_dim = 0, topk = 0;
  const float* q = nullptr;        // [n_queries × heads × head_dim], rotated
  const float* head_weights = nullptr;  // [n_queries × heads], already × heads^-1/2
  KvRows keys;                     // cache: [positions × head_dim], normalised and rotated
  const std::int32_t* positions = nullptr;  // query t sees cache positions 0..positions[t]
  // > every positions[t] (the caller knows it on the host): lets device backends size their work without
  // reading positions back. The cache capacity works too.
  std::int64_t positions_bound = 0;
  float scale = 1.0f;              // head_dim^-1/2
  std::int32_t* selection = nullptr;        // [n_queries × topk] out
  std::int32_t* selection_count = nullptr;  // [n_queries] out
};

struct MoeRouteArgs {
  std::int64_t n_tokens = 0, n_experts = 0, top_k = 0, n_group = 1, topk_group = 1;
  bool norm_topk_prob = true;
  float routed_scaling_factor = 1.0f;
  const float* logits = nullptr;           // [n_tokens × n_experts], float32 router logits
  const float* correction_bias = nullptr;  // [n_experts]
  std::int32_t* experts = nullptr;         // [n_tokens × top_k] out
  float* weights = nullptr;                // [n_tokens × top_k] out
};

struct MoeExpertsArgs {
  std::int64_t n_tokens = 0, top_k = 0;
  const float* x = nullptr;             // [n_tokens × hidden]
  const std::int32_t* experts = nullptr;  // [n_tokens × top_k] routed expert ids
  const float* weights = nullptr;       // [n_tokens × top_k]
  const SwigluWeights* expert_weights = nullptr;  // indexed by expert id
  std::int64_t n_experts = 0;
  float* out = nullptr;                 // [n_tokens × hidden], accumulated into (+=)
};

// A mixture-of-experts block: out = shared(x) (0 without a shared expert) + Σ_k w_k·Expert_k(x), the experts
// and weights chosen by routing the router's logits of x.
struct MoeArgs {
  const WeightMatrix* router = nullptr;    // [n_experts × hidden]
  float* logits = nullptr;                 // [n_tokens × n_experts] work buffer: the router's output
  MoeRouteArgs route;                      // its logits are `logits` (the field is not read)
  const SwigluWeights* shared = nullptr;   // or null
  MoeExpertsArgs experts;                  // x, the routing's experts and weights, and out (written, not added to)
};

// One sequence's rows [row, row + n) of a step and the caches of the layer being computed.
struct AttentionEntryChunk {
  std::int64_t row = 0, n = 0;
  KvRows latent, k_rope, index_keys;  // index_keys: only with an indexer
};

// The short ops of an MLA layer between the products of the normed hidden state (q_a, kv_a and the indexer's key)
// and those of the normed q_a, with the indexer's small head-weight product (Backend::attention_entry). Row r is at position positions[r]
// (backend memory) and belongs to one chunk.
struct AttentionEntryArgs {
  std::int64_t n = 0;
  const std::int32_t* positions = nullptr;
  float eps = 0.0f;  // of both RMSNorms
  // Queries: q_a_normed = RMSNorm(q_a) [n × q_lora].
  const float* q_a = nullptr;
  std::int64_t q_lora = 0;
  const float* q_a_norm = nullptr;
  float* q_a_normed = nullptr;
  // Latents: kv_a [n × (latent_dim + rope_dim)]; latent = RMSNorm(its first latent_dim values) [n × latent_dim]
  // and its last rope_dim values (the shared key's rope part) rotated in place; both written to the caches.
  float* kv_a = nullptr;
  std::int64_t latent_dim = 0, rope_dim = 0;
  const float* kv_a_norm = nullptr;
  float* latent = nullptr;
  const RopeSpec* rope = nullptr;
  // The indexer (index_key null without one): its key [n × index_dim] LayerNormed and rotated in place and
  // written to the cache; its head weights [n × index_heads] = head_weight_scale · head_weight_proj · hidden
  // (the normed hidden state [n × hidden_dim]).
  float* index_key = nullptr;
  std::int64_t index_dim = 0;
  const float* index_norm_weight = nullptr;
  const float* index_norm_bias = nullptr;
  float index_eps = 0.0f;
  const RopeSpec* index_rope = nullptr;
  const WeightMatrix* head_weight_proj = nullptr;  // [index_heads × hidden_dim]
  const float* hidden = nullptr;
  float* head_weights = nullptr;
  std::int64_t index_heads = 0, hidden_dim = 0;
  float head_weight_scale = 1.0f;
  std::span<const AttentionEntryChunk> chunks;
};

// A backend's recording of one step's ops, replayed on later steps (CUDA graphs); see Backend::run_step.
class StepGraph {
 public:
  virtual ~StepGraph() = default;
};

// Weights (WeightMatrix data and norm vectors) are passed as host pointers into immutable model memory;
// a device backend keeps its own copy of each, keyed by that pointer. Activations and caches live in
// memory from alloc() (see BackendBuffer) and are moved to and from the host only by upload/download.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  virtual void* alloc(std::size_t bytes) = 0;
  virtual void release(void* p) = 0;
  virtual void upload(void* dst, const void* host_src, std::size_t bytes) = 0;
  virtual void download(void* host_dst, const void* src, std::size_t bytes) = 0;
  // n rows of `width` floats from src (rows src_stride apart) to dst (rows dst_stride apart), both backend memory.
  virtual void copy_rows(float* dst, std::int64_t dst_stride, const float* src, std::int64_t src_stride, std::int64_t n,
                         std::int64_t width) = 0;
  virtual void fill(float* x, float value, std::int64_t count) = 0;
  // Writes n rows of floats (rows src_stride apart) into cache rows [first, first + n), converting or
  // quantizing to the cache's format; load_kv_rows reads rows back as floats (dst rows dst.width apart).
  virtual void store_kv_rows(const KvRows& dst, std::int64_t first, const float* src, std::int64_t src_stride,
                             std::int64_t n) = 0;
  // As store_kv_rows, with source row r going to cache row rows[r] (backend memory: a pass's positions,
  // which a replayed step reads anew).
  virtual void store_kv_rows_at(const KvRows& dst, const std::int32_t* rows, const float* src, std::int64_t src_stride,
                                std::int64_t n) = 0;
  virtual void load_kv_rows(const KvRows& src, std::int64_t first, std::int64_t n, float* dst) = 0;

  virtual void embed(const WeightMatrix& table, const std::int32_t* tokens, std::int64_t n, float* out) = 0;
  // y[t, r] = Σ_c W[r, c] · x[t, c] for t < n (x rows have W.cols values, y rows W.rows).
  virtual void linear(const WeightMatrix& w, const float* x, std::int64_t n, float* y) = 0;
  // linear(*target.w, x, n, target.y) for every target, all of x's width: several projections of one input, each
  // followed by rope() of its rope dimensions where target.rope is set. The results are those ops'; a backend
  // may prepare x once and run the products together, or rotate in a product's epilogue (this default does
  // neither).
  virtual void linears(std::span<const LinearTarget> targets, const float* x, std::int64_t n) {
    for (const LinearTarget& t : targets) linear(*t.w, x, n, t.y);
    rotate_outputs(targets, n);
  }
  // Per row of `dim` values (rows `x_stride` apart): y = w ⊙ x / sqrt(mean(x²) + eps).
  virtual void rms_norm(const float* x, std::int64_t x_stride, const float* w, std::int64_t n, std::int64_t dim, float eps,
                        float* y) = 0;
  virtual void layer_norm(const float* x, const float* w, const float* b, std::int64_t n, std::int64_t dim, float eps,
                          float* y) = 0;
  // Rotates dims [offset, offset + rope_dim) of each of `heads` heads (head_stride apart) in n rows (row_stride apart).
  virtual void rope(float* x, std::int64_t n, std::int64_t row_stride, std::int64_t heads, std::int64_t head_stride,
                    std::int64_t offset, const std::int32_t* positions, const RopeSpec& spec) = 0;
  virtual void add(float* x, const float* y, std::int64_t count) = 0;       // x += y
  // x += y over n rows of `dim` values, then out = rms_norm(x) (rows dim apart): the residual add and the
  // next sublayer's norm as one op, which a device backend can do in one pass over x.
  virtual void add_rms_norm(float* x, const float* y, const float* w, std::int64_t n, std::int64_t dim, float eps,
                            float* out) {
    add(x, y, n * dim);
    rms_norm(x, dim, w, n, dim, eps, out);
  }
  virtual void scale(float* x, float s, std::int64_t count) = 0;            // x *= s
  // out[t, i] = silu(gate[t, i]) · up[t, i]
  virtual void silu_mul(const float* gate, const float* up, std::int64_t count, float* out) = 0;
  // out = down(silu(gate·x) ⊙ up·x) for n rows.
  virtual void swiglu(const SwigluWeights& w, const float* x, std::int64_t n, float* out) = 0;
  // Computes only the routed experts: out[t] += Σ_k weights[t,k] · Expert_{experts[t,k]}(x[t]).
  virtual void moe_experts(const MoeExpertsArgs& args) = 0;
  virtual void mla_attention(const MlaAttentionArgs& args) = 0;
  virtual void indexer_select(const IndexerArgs& args) = 0;
  virtual void moe_route(const MoeRouteArgs& args) = 0;
  // The whole block (MoeArgs). This default issues the router and routing beside the shared expert
  // (independent), then the routed experts, which add onto the shared expert's output; a backend may order
  // the parts otherwise.
  virtual void moe(const MoeArgs& args);
  // The MLA layer's short ops between its two rounds of products (AttentionEntryArgs). This default issues the
  // queries' norm, the latents' chain and the indexer keys' chain as independent branches; a backend may fuse
  // them.
  virtual void attention_entry(const AttentionEntryArgs& args);

  // Issues the ops of each branch (a function that issues ops), the branches independent of each other: none
  // reads memory that another writes, no two write the same memory, none reads device results back. A backend
  // may run them concurrently and joins them before the next op (CUDA: side streams, so that chains of short
  // dependent kernels overlap); this default issues them one after another.
  virtual void independent(std::span<const std::function<void()>> branches) {
    for (const std::function<void()>& issue : branches) issue();
  }

  // Steps of few tokens (decode) issue the same ops every time, and issuing them one by one can cost more
  // than running them. A backend that can record a step and replay the recording returns a StepGraph to keep
  // between such steps; null (the default) means ops always run as issued.
  virtual std::unique_ptr<StepGraph> new_step_graph() { return nullptr; }
  // Runs one step: `issue` issues its ops. The backend runs them as issued, or records them into `graph` and
  // replays the recording, for later steps too: a step with the recorded step's `key`, while the backend's
  // memory layout is unchanged, is replayed without calling `issue`. So the ops may depend on host values only
  // through `key`; what changes from step to step (positions, token ids) they read from backend memory, written
  // before run_step. `issue` may also be called twice for one step, so it must change no host state, and it may
  // not read device results back to the host.
  virtual void run_step(StepGraph& graph, std::span<const std::int64_t> key, const std::function<void()>& issue) {
    (void)graph;
    (void)key;
    issue();
  }

 protected:
  // rope() over the outputs of the targets that ask for it (linears' products already made).
  void rotate_outputs(std::span<const LinearTarget> targets, std::int64_t n) {
    for (const LinearTarget& t : targets)
      if (t.rope)
        rope(t.y, n, t.w->rows, t.rope->heads, t.rope->head_stride, t.rope->offset, t.rope->positions, *t.rope->spec);
  }
};

}  // namespace glmq
