#include "model/gguf_model_writer.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "core/float_convert.h"
#include "core/json_file.h"
#include "core/progress.h"
#include "formats/ggml_types.h"
#include "formats/gguf_split.h"
#include "formats/gguf_tokenizer_metadata.h"
#include "formats/gguf_writer.h"
#include "formats/tensor_store.h"
#include "model/gguf_glm_metadata.h"
#include "model/gguf_tensor_plan.h"
#include "quant/ggml_error_feedback.h"
#include "quant/ggml_quantize.h"

namespace glmq {

namespace fs = std::filesystem;

namespace {

// Everything a write needs, decided before the first byte goes out.
struct Prepared {
  GlmConfig config;
  std::unique_ptr<TensorStore> store;  // the sources' bytes live here
  std::vector<GgufTensorSource> sources;
  GgufMetadata metadata;               // the first (or only) file's, without split keys
  GgufQuantizePlan plan;
};

std::string join_first(const std::vector<std::string>& items, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < items.size() && i < n; ++i) s += (i ? "; " : "") + items[i];
  if (items.size() > n) s += "; and " + std::to_string(items.size() - n) + " more";
  return s;
}

std::string model_name(const std::string& hf_dir) {
  fs::path p = fs::path(hf_dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

void check_options(const GgufQuantizeOptions& o) {
  if (!is_float_type(o.default_type) && !is_ggml_block(o.default_type))
    fail(ErrorKind::InvalidArgument, "--type " + std::string(weight_type_name(o.default_type)) + " is not a GGML or float type");
  if (!(o.damp >= 0.0 && o.damp <= 10.0))
    fail(ErrorKind::InvalidArgument, "--damp must be between 0 and 10 (a fraction of the mean diagonal), found " + std::to_string(o.damp));
}

// token_embd is a lookup: no input, so no covariance. What an error δ in an embedding row does first is reach
// blk.0's projections of the residual, each reading g ⊙ x / rms(x) (g its norm's weight): their output error is
// Σ_c ‖W_c (g ⊙ δ)‖² / rms², so H = diag(g) (Σ_c W_cᵀ W_c) diag(g) plays the covariance's part (rms is one number
// per row, which error feedback does not see). The projections: attn_norm's readers (attn_q_a, attn_kv_a_mqa,
// the indexer's attn_k and proj) and ffn_norm's (ffn_gate, ffn_up); the later layers see δ through the residual
// too, which the dampening's identity stands for. On glm-small's Q4_K_M this took llama-perplexity's wiki KLD from
// 0.0582 to 0.0559 (llama.cpp's file, whose token_embd is plainly rounded: 0.0696).
const char* const kEmbeddingName = "token_embd.weight";

struct EmbeddingReaders {
  const GgufTensorSource* norm = nullptr;
  std::vector<const GgufTensorSource*> projections;
};

std::vector<EmbeddingReaders> embedding_readers(const std::vector<GgufTensorSource>& sources, std::int64_t hidden) {
  auto find = [&](const std::string& name) -> const GgufTensorSource* {
    for (const auto& s : sources)
      if (s.name == name && s.cols() == hidden && s.slices() == 1) return &s;
    return nullptr;
  };
  std::vector<EmbeddingReaders> groups;
  const std::pair<const char*, std::vector<const char*>> layout[] = {
      {"attn_norm", {"attn_q_a", "attn_kv_a_mqa", "indexer.attn_k", "indexer.proj"}}, {"ffn_norm", {"ffn_gate", "ffn_up"}}};
  for (const auto& [norm, readers] : layout) {
    EmbeddingReaders g;
    g.norm = find("blk.0." + std::string(norm) + ".weight");
    if (!g.norm || g.norm->rows() != 1) continue;
    for (const char* r : readers)
      if (const GgufTensorSource* w = find("blk.0." + std::string(r) + ".weight")) g.projections.push_back(w);
    if (!g.projections.empty()) groups.push_back(std::move(g));
  }
  return groups;
}

// The H above, hidden × hidden, from the converted weights.
std::vector<float> embedding_covariance(const std::vector<EmbeddingReaders>& groups, std::int64_t hidden) {
  const auto n = static_cast<std::size_t>(hidden);
  std::vector<double> h(n * n, 0.0);
  std::vector<float> g(n), w;
  for (const EmbeddingReaders& group : groups) {
    group.norm->fill(0, g.data());
    for (const GgufTensorSource* s : group.projections) {
      w.resize(static_cast<std::size_t>(s->rows()) * n);
      s->fill(0, w.data());
      for (std::int64_t r = 0; r < s->rows(); ++r) {
        const float* wr = w.data() + static_cast<std::size_t>(r) * n;
        for (std::size_t i = 0; i < n; ++i) {
          const double a = static_cast<double>(wr[i]) * g[i];
          double* hi = h.data() + i * n;
          for (std::size_t j = 0; j <= i; ++j) hi[j] += a * wr[j] * g[j];
        }
      }
    }
  }
  std::vector<float> out(n * n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j <= i; ++j) out[i * n + j] = out[j * n + i] = static_cast<float>(h[i * n + j]);
  return out;
}

// Whether `t` gets error feedback: a per-block type and a covariance entry of the tensor's shape (token_embd:
// blk.0's readers, above). Q8_0 keeps plain rounding: its error is already at the level of the engines' own
// activation rounding, and on glm-small error feedback moved its KLD within noise either way (glmq's measure
// 0.98-0.995x, llama-perplexity's 1.03-1.18x; bench/peer.md), so llama-quantize's bytes are the better default there.
bool uses_error_feedback(const GgufQuantizeOptions& o, const GgufTensorSource& s, const GgufPlannedTensor& t,
                         const std::vector<GgufTensorSource>& sources) {
  if (!o.covariance || !t.choice.quantizable || !is_ggml_block(t.choice.type) || !ggml_error_feedback_supports(t.choice.type) ||
      t.choice.type == WeightType::Q8_0)
    return false;
  if (s.name == kEmbeddingName) return !embedding_readers(sources, s.cols()).empty();
  const CovarianceEntry* e = o.covariance->find(s.name);
  if (!e) return false;
  if (e->cols != s.cols() || e->slices != s.slices())
    fail(ErrorKind::Shape, o.covariance_path + ": covariance entry '" + s.name + "' is " + std::to_string(e->slices) + " x " +
                               std::to_string(e->cols) + " x " + std::to_string(e->cols) + ", the tensor needs " +
                               std::to_string(s.slices()) + " slice(s) of " + std::to_string(s.cols()) + " columns");
  return true;
}

// Types llama-quantize would write that glmq's quantizers cannot produce.
void check_writable(const GgufPlannedTensor& t) {
  const WeightType type = t.choice.type;
  if (is_ggml_block(type) && !ggml_can_quantize(type))
    fail(ErrorKind::DType, "'" + t.name + "' would be " + std::string(weight_type_name(type)) +
                               (t.choice.fell_back ? " (llama-quantize's fallback for " + std::string(weight_type_name(t.choice.requested)) + ")" : "") +
                               ", which glmq cannot quantize to; choose another type for it with --tensor-type");
}

Prepared prepare(const std::string& hf_dir, const std::string& out, const GgufQuantizeOptions& o) {
  check_options(o);
  Prepared p;
  const std::string config_path = (fs::path(hf_dir) / "config.json").string();
  const Json config_json = read_json_file(config_path);
  if (config_json.contains("quantization"))
    fail(ErrorKind::InvalidArgument, hf_dir + ": already an MLX quantized build; make a GGUF from the unquantized HF checkpoint");
  p.config = GlmConfig::from_hf_json(config_json, config_path);
  p.store = std::make_unique<TensorStore>(TensorStore::open_hf_dir(hf_dir));
  p.sources = plan_glm_dsa_tensors(*p.store, p.config);

  GgufQuantizePlan& plan = p.plan;
  std::vector<std::string> needs_imatrix, strict_refusals;
  std::vector<std::uint64_t> sizes;
  for (const GgufTensorSource& s : p.sources) {
    GgufPlannedTensor t;
    t.name = s.name;
    t.ne = s.ne;
    t.choice = choose_gguf_type(s.name, s.ne, s.converted_type, o.default_type, o.rules);
    GgufTensorSpec spec{s.name, s.ne, *ggml_id_of(t.choice.type)};
    t.bytes = gguf_tensor_bytes(spec);
    if (t.choice.fell_back) {
      plan.fallbacks.push_back(s.name + ": " + std::string(weight_type_name(t.choice.requested)) + " -> " +
                               std::string(weight_type_name(t.choice.type)) + " (rows of " + std::to_string(s.cols()) +
                               " values are not whole blocks of " + std::to_string(weight_block_size(t.choice.requested)) + ")");
      if (o.strict) strict_refusals.push_back(plan.fallbacks.back());
    }
    check_writable(t);
    if (t.choice.quantizable && is_ggml_block(t.choice.type) && o.imatrix) {
      if (const ImportanceEntry* e = o.imatrix->find(s.name)) {
        const bool fits = e->n_experts * e->cols == s.cols() * s.slices();
        // llama-quantize lets only token_embd through with a mis-sized entry (quantized without weights).
        if (!fits && s.name != "token_embd.weight")
          fail(ErrorKind::Shape, o.imatrix_path + ": imatrix entry '" + s.name + "' has " + std::to_string(e->n_experts * e->cols) +
                                     " values, the tensor needs " + std::to_string(s.cols() * s.slices()) + " (" +
                                     std::to_string(s.cols()) + " columns x " + std::to_string(s.slices()) + ")");
        t.imatrix_used = fits;
      }
    }
    t.error_feedback = uses_error_feedback(o, s, t, p.sources);
    // llama-quantize exempts token_embd/output from needing an imatrix, but then aborts in ggml's IQ2_XXS quantizer:
    // refused here before any work.
    const bool needs_weights = gguf_type_requires_imatrix(s.name, t.choice.type) || ggml_quantize_requires_importance(t.choice.type);
    if (t.choice.quantizable && needs_weights && !t.imatrix_used)
      needs_imatrix.push_back(s.name + " (" + std::string(weight_type_name(t.choice.type)) + ")");
    sizes.push_back(t.bytes);
    plan.tensors.push_back(std::move(t));
  }
  if (!strict_refusals.empty())
    fail(ErrorKind::InvalidArgument, "--strict: " + std::to_string(strict_refusals.size()) +
                                         " tensor(s) need a fallback type: " + join_first(strict_refusals, 4));
  if (!needs_imatrix.empty()) {
    if (!o.imatrix)
      fail(ErrorKind::InvalidArgument, "these types need an importance matrix (as llama-quantize requires one for IQ2_S/IQ2_XXS): " +
                                           join_first(needs_imatrix, 4) + "; pass --imatrix FILE (made by glmq imatrix or llama-imatrix)");
    fail(ErrorKind::InvalidArgument, o.imatrix_path + " has no entry for " + join_first(needs_imatrix, 4) +
                                         " (a very low-bit type needs one; was the imatrix made from this model? imatrix tools "
                                         "collect none for token_embd/output: give those another type with --tensor-type)");
  }

  const GgufSplitPlan split = plan_gguf_split(sizes, o.split_max_bytes);
  plan.files = gguf_split_paths(out, split.shards);
  for (std::size_t i = 0; i < plan.tensors.size(); ++i) {
    GgufPlannedTensor& t = plan.tensors[i];
    t.shard = split.shard_of[i];
    const std::string type(weight_type_name(t.choice.type));
    auto it = std::find_if(plan.by_type.begin(), plan.by_type.end(), [&](const GgufTypeTotal& x) { return x.type == type; });
    if (it == plan.by_type.end()) it = plan.by_type.insert(plan.by_type.end(), GgufTypeTotal{type, 0, 0, 0});
    const std::int64_t params = p.sources[i].numel();
    it->tensors += 1;
    it->params += params;
    it->bytes += t.bytes;
    plan.total_params += params;
    plan.total_bytes += t.bytes;
  }

  p.metadata = glm_dsa_metadata(p.config, model_name(hf_dir), llama_file_type_of(o.default_type));
  for (auto& kv : gguf_tokenizer_metadata(hf_dir, p.config.vocab_size)) p.metadata.push_back(std::move(kv));
  if (o.imatrix) {
    // The keys llama-quantize records (tools/quantize/quantize.cpp).
    p.metadata.emplace_back("quantize.imatrix.file", GgufValue::string(o.imatrix_path));
    if (!o.imatrix->datasets.empty()) p.metadata.emplace_back("quantize.imatrix.dataset", GgufValue::string(o.imatrix->datasets.front()));
    p.metadata.emplace_back("quantize.imatrix.entries_count", GgufValue::u32(static_cast<std::uint32_t>(o.imatrix->entries.size())));
    if (o.imatrix->chunk_count > 0)
      p.metadata.emplace_back("quantize.imatrix.chunks_count", GgufValue::u32(static_cast<std::uint32_t>(o.imatrix->chunk_count)));
  }
  if (o.covariance) {
    // glmq's own keys (llama.cpp ignores unknown ones): how the codes were chosen, for whoever inspects the file.
    p.metadata.emplace_back("quantize.glmq.rounding", GgufValue::string("error-feedback"));
    p.metadata.emplace_back("quantize.glmq.covariance.file", GgufValue::string(o.covariance_path));
    p.metadata.emplace_back("quantize.glmq.damp", GgufValue::f32(static_cast<float>(o.damp)));
  }
  return p;
}

// Calls encode(first_row, row_count) for chunks of rows spread over threads (about four chunks a thread, taken
// dynamically): rows are quantized independently.
template <class Encode>
void for_row_chunks(std::int64_t rows, int threads, const Encode& encode) {
  const std::int64_t chunk = std::max<std::int64_t>(1, rows / (4 * threads));
  const std::int64_t chunks = (rows + chunk - 1) / chunk;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1 && chunks > 1)
  for (std::int64_t b = 0; b < chunks; ++b) {
    const std::int64_t r0 = b * chunk;
    encode(r0, std::min(chunk, rows - r0));
  }
}

// One slice (rows × cols floats) in `type`, rows spread over threads (each row is quantized independently).
void encode_slice(WeightType type, const float* x, std::int64_t rows, std::int64_t cols, const float* importance, int threads,
                  std::uint8_t* out) {
  const std::size_t n = static_cast<std::size_t>(rows * cols);
  if (type == WeightType::F32) {
    std::memcpy(out, x, n * sizeof(float));
    return;
  }
  if (type == WeightType::F16 || type == WeightType::BF16) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint16_t h = type == WeightType::F16 ? f32_to_f16(x[i]) : f32_to_bf16(x[i]);
      std::memcpy(out + 2 * i, &h, 2);
    }
    return;
  }
  const std::size_t row_bytes = weight_row_bytes(type, static_cast<std::size_t>(cols));
  for_row_chunks(rows, threads, [&](std::int64_t r0, std::int64_t nr) {
    quantize_ggml(type, x + r0 * cols, out + static_cast<std::size_t>(r0) * row_bytes, nr, cols, importance);
  });
}

// One slice with error feedback: rows are independent given the factor, so they spread over threads as above.
void encode_slice_error_feedback(WeightType type, const float* x, std::int64_t rows, std::int64_t cols, const float* importance,
                                 const std::vector<double>& u, int threads, std::uint8_t* out) {
  const std::size_t row_bytes = weight_row_bytes(type, static_cast<std::size_t>(cols));
  for_row_chunks(rows, threads, [&](std::int64_t r0, std::int64_t nr) {
    quantize_ggml_error_feedback(type, x + r0 * cols, out + static_cast<std::size_t>(r0) * row_bytes, nr, cols, importance, u);
  });
}

}  // namespace

GgufQuantizePlan plan_gguf_quantization(const std::string& hf_dir, const std::string& out, const GgufQuantizeOptions& options) {
  return prepare(hf_dir, out, options).plan;
}

GgufQuantizePlan write_glm_dsa_gguf(const std::string& hf_dir, const std::string& out, const GgufQuantizeOptions& o) {
  if (fs::is_directory(out)) fail(ErrorKind::Io, out + ": is a directory; --out names the .gguf file");
  Prepared p = prepare(hf_dir, out, o);
  const GgufQuantizePlan& plan = p.plan;
  const int shards = static_cast<int>(plan.files.size());
  const int threads = o.threads > 0 ? o.threads : omp_get_max_threads();
  const auto total_tensors = static_cast<std::int64_t>(plan.tensors.size());

  std::uint64_t slices = 0;
  for (const auto& s : p.sources) slices += static_cast<std::uint64_t>(s.slices());
  Progress progress("quantizing " + hf_dir + " -> " + out, slices);
  std::unique_ptr<GgufWriter> writer;
  int current = -1;
  auto open_shard = [&](int shard) {
    if (writer) writer->finish();
    GgufMetadata md = shard == 0 ? p.metadata : GgufMetadata{};
    if (shards > 1) add_gguf_split_keys(md, shard, shards, total_tensors);
    std::vector<GgufTensorSpec> specs;
    for (const auto& t : plan.tensors)
      if (t.shard == shard) specs.push_back({t.name, t.ne, *ggml_id_of(t.choice.type)});
    writer = std::make_unique<GgufWriter>(plan.files[static_cast<std::size_t>(shard)], md, std::move(specs));
    current = shard;
  };
  if (shards > 1) open_shard(0);  // the metadata-only first shard

  for (std::size_t i = 0; i < plan.tensors.size(); ++i) {
    const GgufPlannedTensor& t = plan.tensors[i];
    const GgufTensorSource& s = p.sources[i];
    if (t.shard != current) open_shard(t.shard);
    std::vector<float> importance, embedding_h;
    if (t.imatrix_used) importance = tensor_quant_weights(*o.imatrix->find(t.name), t.name, s.cols(), s.slices());
    if (t.error_feedback && t.name == kEmbeddingName) {
      embedding_h = embedding_covariance(embedding_readers(p.sources, s.cols()), s.cols());
      // No imatrix entry (imatrix tools collect none for a lookup): H's diagonal weighs the block fits instead.
      if (importance.empty())
        for (std::int64_t j = 0; j < s.cols(); ++j) importance.push_back(embedding_h[static_cast<std::size_t>(j * s.cols() + j)]);
    }
    std::vector<float> values(static_cast<std::size_t>(s.rows() * s.cols()));
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(t.bytes / static_cast<std::uint64_t>(s.slices())));
    for (std::int64_t k = 0; k < s.slices(); ++k) {
      s.fill(k, values.data());
      const float* slice_importance = importance.empty() ? nullptr : importance.data() + k * s.cols();
      std::vector<double> factor;
      if (t.error_feedback)
        factor = error_feedback_factor(embedding_h.empty() ? o.covariance->find(t.name)->slice(k) : embedding_h.data(), s.cols(), o.damp);
      if (!factor.empty())
        encode_slice_error_feedback(t.choice.type, values.data(), s.rows(), s.cols(), slice_importance, factor, threads, bytes.data());
      else
        encode_slice(t.choice.type, values.data(), s.rows(), s.cols(), slice_importance, threads, bytes.data());
      writer->append_part(bytes.data(), bytes.size());
      progress.advance();
    }
  }
  if (writer) writer->finish();
  char summary[160];
  std::snprintf(summary, sizeof summary, "wrote %zu tensors, %.2f MB at %.3f bits/weight, in %d file(s) in %.1f s",
                plan.tensors.size(), static_cast<double>(plan.total_bytes) / 1e6, plan.bits_per_weight(), shards,
                progress.elapsed_seconds());
  progress.finish(summary);
  return plan;
}

}  // namespace glmq
