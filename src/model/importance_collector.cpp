#include "model/importance_collector.h"

#include <cmath>

#include "core/error.h"

namespace glmq {

namespace {
constexpr std::int64_t kMinRows = 16;
}

ImportanceCollector::ImportanceCollector(const Weights& weights) {
  const GlmConfig& c = weights.config;
  for (std::size_t l = 0; l < weights.layers.size(); ++l) add_layer("blk." + std::to_string(l) + ".", weights.layers[l], c);
  ignore(weights.lm_head);
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
  }
  if (!slots_.emplace(w.data, Slot{&e, slice * w.cols, count_per_slice ? slice : 0, count_per_slice || slice == 0, w.cols}).second)
    fail(ErrorKind::InvalidArgument, "importance statistics: weight '" + name + "' shares its memory with another weight");
}

void ImportanceCollector::ignore(const WeightMatrix& w) { slots_.emplace(w.data, Slot{}); }

void ImportanceCollector::observe(const WeightMatrix& w, const float* x, std::int64_t n, std::int64_t stride) {
  const auto it = slots_.find(w.data);
  if (it == slots_.end())
    fail(ErrorKind::InvalidArgument, "importance statistics: a product with a " + std::to_string(w.rows) + " x " +
                                         std::to_string(w.cols) + " weight that is not part of the model's Weights");
  const Slot& s = it->second;
  // llama-imatrix skips products over fewer than 16 rows except the routed experts' (a quirk kept for parity: a
  // chunk's short last batch adds to the expert statistics only).
  if (!s.acc || (!s.acc->routed && n < kMinRows)) return;
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

ImportanceMatrix ImportanceCollector::result() const {
  ImportanceMatrix m;
  for (const auto& [name, a] : accumulators_) {
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
