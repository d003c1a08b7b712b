#include "model/forward.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>

#include "core/error.h"

namespace glmq {

namespace {
// Passes of up to this many rows go through the backend's step graph (Backend::run_step): decode and small
// batches of decode steps, whose ops are many and short, so issuing them costs as much as running them.
// Longer passes (prefill) are dominated by their products.
constexpr std::int64_t kStepGraphMaxRows = 8;
// The indexer's bound on positions (IndexerArgs::positions_bound) is rounded up to a multiple of this, so that
// a recorded decode step stays valid for this many positions before it is recorded again.
constexpr std::int64_t kPositionsBoundStep = 256;
}  // namespace

Forward::Forward(const Weights& weights, Backend& backend)
    : w_(weights), c_(weights.config), be_(backend), step_graph_(backend.new_step_graph()) {
  std::vector<double> inv = c_.rope_inv_freq();
  rope_.inv_freq.assign(inv.begin(), inv.end());
  rope_.attention_factor = static_cast<float>(c_.rope_attention_factor());
  rope_.interleaved = c_.rope_interleave;
  indexer_rope_ = rope_;
  indexer_rope_.interleaved = c_.indexer_rope_interleave;
}

void Forward::reserve(std::int64_t n) {
  if (n <= reserved_) return;
  auto ensure = [this](auto& buffer, std::int64_t count) { buffer.resize(be_, static_cast<std::size_t>(count)); };
  const std::int64_t H = c_.hidden_size;
  ensure(x_, n * H);
  ensure(a_, n * H);
  ensure(proj_, n * H);
  ensure(ffn_, n * H);
  ensure(qa_, n * c_.q_lora_rank);
  ensure(qr_, n * c_.q_lora_rank);
  ensure(q_, n * c_.num_attention_heads * c_.qk_head_dim());
  ensure(ckv_, n * (c_.kv_lora_rank + c_.qk_rope_head_dim));
  ensure(latent_, n * c_.kv_lora_rank);
  ensure(attn_, n * c_.num_attention_heads * c_.v_head_dim);
  ensure(router_logits_, n * c_.n_routed_experts);
  ensure(route_w_, n * c_.num_experts_per_tok);
  ensure(route_e_, n * c_.num_experts_per_tok);
  ensure(iq_, n * c_.index_n_heads * c_.index_head_dim);
  ensure(ik_, n * c_.index_head_dim);
  ensure(iw_, n * c_.index_n_heads);
  ensure(positions_, n);
  ensure(tokens_, n);
  ensure(logits_, n * c_.vocab_size);
  ensure(selection_, n * c_.index_topk);
  ensure(selection_count_, n);
  reserved_ = n;
}

const float* Forward::run(const std::int32_t* tokens, std::int64_t n, LatentKvCache& cache, bool all_logits,
                          ForwardTrace* trace) {
  SequenceChunk chunk{&cache, tokens, n, all_logits};
  return run_batch({&chunk, 1}, trace);
}

const float* Forward::run_batch(std::span<const SequenceChunk> chunks, ForwardTrace* trace) {
  if (chunks.empty()) fail(ErrorKind::InvalidArgument, "forward pass needs at least one sequence");
  if (trace && chunks.size() != 1) fail(ErrorKind::InvalidArgument, "a traced forward pass takes exactly one sequence");
  std::int64_t n = 0, logit_rows = 0;
  chunk_row_.clear();
  chunk_pos0_.clear();
  chunk_bound_.clear();
  host_positions_.clear();
  host_tokens_.clear();
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    const SequenceChunk& ch = chunks[c];
    if (ch.n <= 0 || !ch.cache || !ch.tokens) fail(ErrorKind::InvalidArgument, "every sequence of a forward pass needs tokens and a cache");
    for (std::size_t d = 0; d < c; ++d)
      if (chunks[d].cache == ch.cache) fail(ErrorKind::InvalidArgument, "a cache appears twice in one forward pass");
    ch.cache->prepare_for_append();
    const std::int64_t pos0 = ch.cache->length();
    if (pos0 + ch.n > ch.cache->capacity())
      fail(ErrorKind::Capacity, std::to_string(pos0 + ch.n) + " tokens exceed the context of " + std::to_string(ch.cache->capacity()));
    for (std::int64_t t = 0; t < ch.n; ++t) {
      if (ch.tokens[t] < 0 || ch.tokens[t] >= c_.vocab_size)
        fail(ErrorKind::InvalidArgument, "token id " + std::to_string(ch.tokens[t]) + " outside the vocabulary of " +
                                             std::to_string(c_.vocab_size));
      host_tokens_.push_back(ch.tokens[t]);
      host_positions_.push_back(static_cast<std::int32_t>(pos0 + t));
    }
    chunk_row_.push_back(n);
    chunk_pos0_.push_back(pos0);
    chunk_bound_.push_back(std::min(ch.cache->capacity(), (pos0 + ch.n + kPositionsBoundStep - 1) / kPositionsBoundStep *
                                                              kPositionsBoundStep));
    n += ch.n;
    logit_rows += ch.all_logits ? ch.n : 1;
  }
  reserve(n);
  const std::int64_t H = c_.hidden_size;
  // What changes from one decode step to the next goes to backend memory here, outside the step's recorded ops.
  be_.upload(positions_.data(), host_positions_.data(), static_cast<std::size_t>(n) * sizeof(std::int32_t));
  be_.upload(tokens_.data(), host_tokens_.data(), static_cast<std::size_t>(n) * sizeof(std::int32_t));
  // Everything from here to the LM head is device work over the host state set up above. Backend::run_step may
  // issue it twice for one pass, or replay it as recorded for a pass with the same key: every host value it
  // depends on (but the trace's, never recorded) is in the key.
  auto issue = [&] {
    be_.embed(w_.embed, tokens_.data(), n, x_.data());
    auto record_hidden = [&] {
      trace->hidden.emplace_back(static_cast<std::size_t>(n * H));
      be_.download(trace->hidden.back().data(), x_.data(), static_cast<std::size_t>(n * H) * sizeof(float));
    };
    if (trace) {
      trace->hidden.clear();
      trace->selection.assign(static_cast<std::size_t>(c_.num_hidden_layers), {});
      record_hidden();
    }
    // Each residual add is fused with the norm after it (the next layer's attention norm after the FFN).
    const auto eps = static_cast<float>(c_.rms_norm_eps);
    if (c_.num_hidden_layers > 0) be_.rms_norm(x_.data(), H, w_.layers[0].attn_norm.data(), n, H, eps, a_.data());
    for (std::int64_t l = 0; l < c_.num_hidden_layers; ++l) {
      const LayerWeights& L = w_.layers[static_cast<std::size_t>(l)];
      attention(l, n, chunks, trace);
      be_.add_rms_norm(x_.data(), proj_.data(), L.ffn_norm.data(), n, H, eps, a_.data());
      feed_forward(l, n);
      if (l + 1 < c_.num_hidden_layers) {
        be_.add_rms_norm(x_.data(), ffn_.data(), w_.layers[static_cast<std::size_t>(l + 1)].attn_norm.data(), n, H, eps,
                         a_.data());
      } else {
        be_.add(x_.data(), ffn_.data(), n * H);
      }
      if (trace) record_hidden();
    }

    // Gather the rows that need logits (all of a chunk, or its last), then one final norm and LM head.
    std::int64_t out = 0;
    for (std::size_t c = 0; c < chunks.size(); ++c) {
      const std::int64_t rows = chunks[c].all_logits ? chunks[c].n : 1;
      const std::int64_t first = chunk_row_[c] + chunks[c].n - rows;
      be_.copy_rows(proj_.data() + out * H, H, x_.data() + first * H, H, rows, H);
      out += rows;
    }
    be_.rms_norm(proj_.data(), H, w_.final_norm.data(), logit_rows, H, static_cast<float>(c_.rms_norm_eps), a_.data());
    be_.linear(w_.lm_head, a_.data(), logit_rows, logits_.data());
  };
  if (step_graph_ && !trace && n <= kStepGraphMaxRows) {
    step_key_.assign({n, reserved_});
    for (std::size_t c = 0; c < chunks.size(); ++c)
      step_key_.insert(step_key_.end(), {static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(chunks[c].cache)),
                                         chunks[c].n, chunks[c].all_logits ? 1 : 0, chunk_bound_[c]});
    be_.run_step(*step_graph_, step_key_, issue);
  } else {
    issue();
  }
  for (std::size_t c = 0; c < chunks.size(); ++c) chunks[c].cache->set_length(chunk_pos0_[c] + chunks[c].n);
  return logits_.data();
}

void Forward::attention(std::int64_t l, std::int64_t n, std::span<const SequenceChunk> chunks, ForwardTrace* trace) {
  const AttentionWeights& A = w_.layers[static_cast<std::size_t>(l)].attn;
  const std::int64_t heads = c_.num_attention_heads, qk = c_.qk_head_dim(), R = c_.kv_lora_rank,
                     rope = c_.qk_rope_head_dim;
  const auto eps = static_cast<float>(c_.latent_norm_eps);

  // Projections for every row of every sequence at once (the weights are read once); those of one input together
  // (Backend::linears): of the normed hidden state q_a, kv_a and the indexer's key projection.
  const IndexerWeights* I = A.indexer ? &*A.indexer : nullptr;
  const std::int64_t ih = c_.index_n_heads, id = c_.index_head_dim;
  const LinearTarget from_hidden[] = {{&A.q_a, qa_.data()}, {&A.kv_a, ckv_.data()}, {I ? &I->wk : nullptr, ik_.data()}};
  be_.linears({from_hidden, I ? 3u : 2u}, a_.data(), n);
  // The short ops between the two rounds of products (Backend::attention_entry): q_a's norm; the latent and the
  // shared rope key, normalised, rotated and written to each sequence's cache in its storage format; the
  // indexer's key (written to its cache) and head weights (a product of 32 rows).
  std::vector<AttentionEntryChunk> entry_chunks;
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    AttentionEntryChunk ec;
    ec.row = chunk_row_[c];
    ec.n = chunks[c].n;
    ec.latent = chunks[c].cache->latent(l);
    ec.k_rope = chunks[c].cache->k_rope(l);
    if (I) ec.index_keys = chunks[c].cache->index_keys(l);
    entry_chunks.push_back(ec);
  }
  AttentionEntryArgs e;
  e.n = n;
  e.positions = positions_.data();
  e.eps = eps;
  e.q_a = qa_.data();
  e.q_lora = c_.q_lora_rank;
  e.q_a_norm = A.q_a_norm.data();
  e.q_a_normed = qr_.data();
  e.kv_a = ckv_.data();
  e.latent_dim = R;
  e.rope_dim = rope;
  e.kv_a_norm = A.kv_a_norm.data();
  e.latent = latent_.data();
  e.rope = &rope_;
  if (I) {
    e.index_key = ik_.data();
    e.index_dim = id;
    e.index_norm_weight = I->k_norm_weight.data();
    e.index_norm_bias = I->k_norm_bias.data();
    e.index_eps = static_cast<float>(c_.indexer_norm_eps);
    e.index_rope = &indexer_rope_;
    e.head_weight_proj = &I->weights_proj;
    e.hidden = a_.data();
    e.hidden_dim = c_.hidden_size;
    e.head_weights = iw_.data();
    e.index_heads = ih;
    e.head_weight_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(ih)));
  }
  e.chunks = entry_chunks;
  be_.attention_entry(e);
  // The queries of attention and of the indexer, from the normed q_a, with their rope dimensions rotated.
  const RotaryOutput q_rope{&rope_, positions_.data(), heads, qk, c_.qk_nope_head_dim};
  const RotaryOutput iq_rope{&indexer_rope_, positions_.data(), ih, id, 0};
  const LinearTarget from_q_lora[] = {{&A.q_b, q_.data(), &q_rope}, {I ? &I->wq_b : nullptr, iq_.data(), &iq_rope}};
  be_.linears({from_q_lora, I ? 2u : 1u}, qr_.data(), n);

  // Per sequence: pick its positions, attend over its own latents.
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    const std::int64_t row = chunk_row_[c], m = chunks[c].n;
    LatentKvCache& cache = *chunks[c].cache;
    const std::int32_t* pos = positions_.data() + row;
    const KvRows& latent = cache.latent(l);
    const KvRows& k_rope = cache.k_rope(l);

    std::int32_t* selection = selection_.data() + row * c_.index_topk;
    std::int32_t* selection_count = selection_count_.data() + row;
    if (I) {
      // The lightning indexer picks each query's attended positions; "shared" layers keep the last selection.
      const KvRows& keys = cache.index_keys(l);
      IndexerArgs ia;
      ia.n_queries = m;
      ia.heads = ih;
      ia.head_dim = id;
      ia.topk = c_.index_topk;
      ia.q = iq_.data() + row * ih * id;
      ia.head_weights = iw_.data() + row * ih;
      ia.keys = keys;
      ia.positions = pos;
      ia.positions_bound = chunk_bound_[c];
      ia.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(id)));
      ia.selection = selection;
      ia.selection_count = selection_count;
      be_.indexer_select(ia);
      if (trace) {
        std::vector<std::int32_t> sel(static_cast<std::size_t>(m * c_.index_topk)), count(static_cast<std::size_t>(m));
        be_.download(sel.data(), selection, sel.size() * sizeof(std::int32_t));
        be_.download(count.data(), selection_count, count.size() * sizeof(std::int32_t));
        auto& rec = trace->selection[static_cast<std::size_t>(l)];
        rec.resize(static_cast<std::size_t>(m));
        for (std::int64_t t = 0; t < m; ++t) {
          const std::int32_t* s = sel.data() + t * c_.index_topk;
          rec[static_cast<std::size_t>(t)].assign(s, s + count[static_cast<std::size_t>(t)]);
        }
      }
    }

    MlaAttentionArgs aa;
    aa.n_queries = m;
    aa.heads = heads;
    aa.nope_dim = c_.qk_nope_head_dim;
    aa.rope_dim = rope;
    aa.v_dim = c_.v_head_dim;
    aa.latent_dim = R;
    aa.q = q_.data() + row * heads * qk;
    aa.latent = latent;
    aa.k_rope = k_rope;
    aa.selection = selection;
    aa.selection_count = selection_count;
    aa.selection_stride = c_.index_topk;
    aa.k_absorb = A.k_absorb;
    aa.v_expand = A.v_expand;
    aa.scale = static_cast<float>(c_.attention_scale());
    aa.out = attn_.data() + row * heads * c_.v_head_dim;
    be_.mla_attention(aa);
  }
  be_.linear(A.o, attn_.data(), n, proj_.data());
}

void Forward::feed_forward(std::int64_t l, std::int64_t n) {
  const LayerWeights& L = w_.layers[static_cast<std::size_t>(l)];
  if (L.dense) {
    be_.swiglu(*L.dense, a_.data(), n, ffn_.data());
    return;
  }
  const MoeWeights& M = *L.moe;
  MoeArgs ma;
  ma.router = &M.router;
  ma.logits = router_logits_.data();
  MoeRouteArgs& ra = ma.route;
  ra.n_tokens = n;
  ra.n_experts = c_.n_routed_experts;
  ra.top_k = c_.num_experts_per_tok;
  ra.n_group = c_.n_group;
  ra.topk_group = c_.topk_group;
  ra.norm_topk_prob = c_.norm_topk_prob;
  ra.routed_scaling_factor = static_cast<float>(c_.routed_scaling_factor);
  ra.correction_bias = M.correction_bias.data();
  ra.experts = route_e_.data();
  ra.weights = route_w_.data();
  ma.shared = M.shared ? &*M.shared : nullptr;
  MoeExpertsArgs& ea = ma.experts;
  ea.n_tokens = n;
  ea.top_k = c_.num_experts_per_tok;
  ea.x = a_.data();
  ea.experts = route_e_.data();
  ea.weights = route_w_.data();
  ea.expert_weights = M.experts.data();
  ea.n_experts = c_.n_routed_experts;
  ea.out = ffn_.data();
  be_.moe(ma);
}

}  // namespace glmq
