#include "model/importance_collector.h"

#include <cmath>

#include "core/error.h"

namespace glmq {

namespace {
constexpr std::int64_t kMinRows = 16;
}

ImportanceCollector::ImportanceCollector(const Weights& weights, bool collect_covariance)
    : collect_covariance_(collect_covariance) {
  const GlmConfig& c = weights.config;
  for (std::size_t l = 0; l < weights.layers.size(); ++l) add_layer("blk." + std::to_string(l) + ".", weights.layers[l], c);
  if (collect_covariance_) {
    // llama-imatrix leaves the LM head out of the importance matrix; error feedback is worth as much there as
    // anywhere, so its covariance is collected (the run then computes logits for every token).
    add(c.tie_word_embeddings ? "token_embd.weight" : "output.weight", weights.lm_head);
    accumulators_[c.tie_word_embeddings ? "token_embd.weight" : "output.weight"].covariance_only = true;
  } else {
    ignore(weights.lm_head);
  }
}

void ImportanceCollector::add_layer(const std::string& p, const LayerWeights& L, const GlmConfig& c) {
  const AttentionWeights& a = L.attn;
  add(p + "attn_q_a.weight", a.q_a);
  add(p + "attn_q_b.weight", a.q_b);
  add(p + "attn_kv_a_mqa.weight", a.kv_a);
  add(p + "attn_output.weight", a.o);
  const std::int64_t heads = c.num_attention_heads;
  for (std::int64_t h = 0; h < heads; ++h) {
    add(p + "attn_k_b.weight", a.k_absorb.row_range(h * c.kv_lora_rank, c.kv_lora_rank), h, heads);
    add(p + "attn_v_b.weight", a.v_expand.row_range(h * c.v_head_dim, c.v_head_dim), h, heads);
  }
  if (a.indexer) {
    add(p + "indexer.attn_q_b.weight", a.indexer->wq_b);
    add(p + "indexer.attn_k.weight", a.indexer->wk);
    add(p + "indexer.proj.weight", a.indexer->weights_proj);
  }
  auto ffn = [&](const std::string& suffix, const FfnWeights& f) {
    add(p + "ffn_gate" + suffix + ".weight", f.gate);
    add(p + "ffn_up" + suffix + ".weight", f.up);
    add(p + "ffn_down" + suffix + ".weight", f.down);
  };
  if (L.dense) ffn("", *L.dense);
  if (L.moe) {
    add(p + "ffn_gate_inp.weight", L.moe->router);
    const auto experts = static_cast<std::int64_t>(L.moe->experts.size());
    for (std::int64_t e = 0; e < experts; ++e) {
      const FfnWeights& f = L.moe->experts[static_cast<std::size_t>(e)];
      add(p + "ffn_gate_exps.weight", f.gate, e, experts, true);
      add(p + "ffn_up_exps.weight", f.up, e, experts, true);
      add(p + "ffn_down_exps.weight", f.down, e, experts, true);
    }
    if (L.moe->shared) ffn("_shexp", *L.moe->shared);
  }
}

void ImportanceCollector::add(const std::string& name, const WeightMatrix& w, std::int64_t slice, std::int64_t slices,
                              bool count_per_slice) {
  Accumulator& e = accumulators_[name];
  if (e.sum_sq.empty()) {
    e.routed = count_per_slice;
    e.n_counts = count_per_slice ? slices : 1;
    e.cols = count_per_slice ? w.cols : w.cols * slices;
    e.sum_sq.assign(static_cast<std::size_t>(w.cols * slices), 0.0f);
    e.counts.assign(static_cast<std::size_t>(e.n_counts), 0);
    e.slices = slices;
    e.slice_cols = w.cols;
    if (collect_covariance_) {
      e.xtx.assign(static_cast<std::size_t>(slices * w.cols * w.cols), 0.0f);
      e.xtx_counts.assign(static_cast<std::size_t>(slices), 0);
    }
  }
  if (!slots_.emplace(w.data, Slot{&e, slice * w.cols, count_per_slice ? slice : 0, slice, count_per_slice || slice == 0, w.cols}).second)
    fail(ErrorKind::InvalidArgument, "importance statistics: weight '" + name + "' shares its memory with another weight");
}

void ImportanceCollector::ignore(const WeightMatrix& w) { slots_.emplace(w.data, Slot{}); }

void ImportanceCollector::observe(const WeightMatrix& w, const float* x, std::int64_t n, std::int64_t stride) {
  const auto it = slots_.find(w.data);
  if (it == slots_.end())
    fail(ErrorKind::InvalidArgument, "importance statistics: a product with a " + std::to_string(w.rows) + " x " +
                                         std::to_string(w.cols) + " weight that is not part of the model's Weights");
  const Slot& s = it->second;
  if (s.acc && collect_covariance_ && n > 0) {
    if (w.cols != s.cols)
      fail(ErrorKind::Shape, "covariance statistics: a weight of " + std::to_string(s.cols) + " columns multiplied rows of " +
                                 std::to_string(w.cols));
    add_covariance(*s.acc, s.slice, x, n, stride);
  }
  // llama-imatrix skips products over fewer than 16 rows except the routed experts' (a quirk kept for parity: a
  // chunk's short last batch adds to the expert statistics only).
  if (!s.acc || s.acc->covariance_only || (!s.acc->routed && n < kMinRows)) return;
  if (w.cols != s.cols)
    fail(ErrorKind::Shape, "importance statistics: a weight of " + std::to_string(s.cols) + " columns multiplied rows of " +
                               std::to_string(w.cols));
  float* acc = s.acc->sum_sq.data() + s.offset;
  for (std::int64_t r = 0; r < n; ++r) {
    const float* row = x + r * stride;
    for (std::int64_t j = 0; j < s.cols; ++j) acc[j] += row[j] * row[j];
  }
  if (s.adds_count) s.acc->counts[static_cast<std::size_t>(s.count_index)] += n;
}

void ImportanceCollector::add_covariance(Accumulator& a, std::int64_t slice, const float* x, std::int64_t n, std::int64_t stride) {
  const std::int64_t cols = a.slice_cols;
  float* h = a.xtx.data() + slice * cols * cols;
  a.xtx_counts[static_cast<std::size_t>(slice)] += n;
  // Upper triangle only, four input rows per pass over a row of H, so each H row is loaded and stored once per
  // four rank-1 updates; rows of H split over threads (each thread owns its rows).
  const std::int64_t full = n - n % 4;
#pragma omp parallel for schedule(dynamic, 8) if (cols >= 64 && n >= 16)
  for (std::int64_t i = 0; i < cols; ++i) {
    float* hi = h + i * cols;
    for (std::int64_t r = 0; r < full; r += 4) {
      const float* x0 = x + r * stride;
      const float* x1 = x0 + stride;
      const float* x2 = x1 + stride;
      const float* x3 = x2 + stride;
      const float a0 = x0[i], a1 = x1[i], a2 = x2[i], a3 = x3[i];
      for (std::int64_t j = i; j < cols; ++j) hi[j] += a0 * x0[j] + a1 * x1[j] + a2 * x2[j] + a3 * x3[j];
    }
    for (std::int64_t r = full; r < n; ++r) {
      const float* x0 = x + r * stride;
      const float a0 = x0[i];
      for (std::int64_t j = i; j < cols; ++j) hi[j] += a0 * x0[j];
    }
  }
}

InputCovariance ImportanceCollector::covariance_result() const {
  InputCovariance c;
  if (!collect_covariance_) return c;
  for (const auto& [name, a] : accumulators_) {
    CovarianceEntry& e = c.entries[name];
    e.slices = a.slices;
    e.cols = a.slice_cols;
    e.xtx = a.xtx;
    const std::int64_t n = a.slice_cols;
    for (std::int64_t s = 0; s < a.slices; ++s) {
      float* h = e.xtx.data() + s * n * n;
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < i; ++j) h[i * n + j] = h[j * n + i];
    }
    for (float v : e.xtx)
      if (!std::isfinite(v)) fail(ErrorKind::InvalidArgument, "covariance statistics: a non-finite sum for '" + name + "'");
    for (std::int64_t k : a.xtx_counts) e.counts.push_back(static_cast<float>(k));
  }
  return c;
}

ImportanceMatrix ImportanceCollector::result() const {
  ImportanceMatrix m;
  for (const auto& [name, a] : accumulators_) {
    if (a.covariance_only) continue;
    for (float v : a.sum_sq)
      if (!std::isfinite(v)) fail(ErrorKind::InvalidArgument, "importance statistics: non-finite sum of squares for '" + name + "'");
    ImportanceEntry& e = m.entries[name];
    e.n_experts = a.n_counts;
    e.cols = a.cols;
    e.sum_sq = a.sum_sq;
    for (std::int64_t c : a.counts) e.counts.push_back(static_cast<float>(c));
  }
  return m;
}

}  // namespace glmq
