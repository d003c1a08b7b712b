#include "model/latent_kv_cache.h"

#include "core/error.h"

namespace glmq {

namespace {

// The largest group size ≤ `wanted` that divides `width` (rows narrower than a group still quantize).
std::int64_t group_for(std::int64_t width, std::int64_t wanted) {
  for (std::int64_t g = wanted; g >= 2; g /= 2)
    if (width % g == 0) return g;
  return 0;
}

}  // namespace

void KvCacheOptions::validate() const {
  kv_format_for_bits(kv_bits, "--kv-bits");
  if (rope_bits != 0) kv_format_for_bits(rope_bits, "--kv-rope-bits");
  if (indexer_bits != 0) kv_format_for_bits(indexer_bits, "--indexer-kv-bits");
  if (group_size != 32 && group_size != 64 && group_size != 128)
    fail(ErrorKind::InvalidArgument, "--kv-group-size must be 32, 64 or 128, found " + std::to_string(group_size));
  if (quantized_start < 0) fail(ErrorKind::InvalidArgument, "--quantized-kv-start must be non-negative");
}

std::string KvCacheOptions::describe() const {
  const KvFormat latent = kv_format_for_bits(kv_bits, "--kv-bits");
  const KvFormat rope = kv_format_for_bits(effective_rope_bits(), "--kv-rope-bits");
  const KvFormat keys = indexer_bits ? kv_format_for_bits(indexer_bits, "--indexer-kv-bits")
                                     : (kv_bits == 32 ? KvFormat::F32 : KvFormat::F16);
  auto name = [&](KvFormat f) {
    std::string s = kv_format_name(f);
    if (f == KvFormat::Q8 || f == KvFormat::Q4) s += " g" + std::to_string(group_size);
    return s;
  };
  std::string d = "latent " + name(latent) + ", rope " + name(rope) + ", indexer keys " + name(keys);
  if (quantized_start > 0 && (latent == KvFormat::Q8 || latent == KvFormat::Q4))
    d += " (f16 until " + std::to_string(quantized_start) + " tokens)";
  return d;
}

LatentKvCache::LatentKvCache(const GlmConfig& c, Backend& backend, std::int64_t capacity, const KvCacheOptions& options)
    : backend_(backend), options_(options), capacity_(capacity) {
  options.validate();
  if (capacity <= 0) fail(ErrorKind::InvalidArgument, "cache capacity must be positive, found " + std::to_string(capacity));
  latent_format_ = kv_format_for_bits(options.kv_bits, "--kv-bits");
  rope_format_ = kv_format_for_bits(options.effective_rope_bits(), "--kv-rope-bits");
  const KvFormat keys = options.indexer_bits ? kv_format_for_bits(options.indexer_bits, "--indexer-kv-bits")
                                             : (options.kv_bits == 32 ? KvFormat::F32 : KvFormat::F16);
  auto is_quantized = [](KvFormat f) { return f == KvFormat::Q8 || f == KvFormat::Q4; };
  pending_quantization_ = options.quantized_start > 0 && (is_quantized(latent_format_) || is_quantized(rope_format_));
  auto initial = [&](KvFormat f) { return pending_quantization_ && is_quantized(f) ? KvFormat::F16 : f; };
  layers_.resize(static_cast<std::size_t>(c.num_hidden_layers));
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    allocate(layers_[l].latent, initial(latent_format_), c.kv_lora_rank);
    allocate(layers_[l].k_rope, initial(rope_format_), c.qk_rope_head_dim);
    // Only layers that run the indexer keep indexer keys ("shared" layers reuse a selection, not keys).
    if (c.layer_runs_indexer[l]) allocate(layers_[l].index_keys, keys, c.index_head_dim);
  }
}

void LatentKvCache::allocate(Tensor& t, KvFormat format, std::int64_t width) {
  KvRows& r = t.rows;
  r = KvRows{};
  r.format = format;
  r.width = width;
  if (format == KvFormat::Q8 || format == KvFormat::Q4) {
    r.group_size = group_for(width, options_.group_size);
    if (r.group_size == 0 || (format == KvFormat::Q4 && width % 2 != 0))
      fail(ErrorKind::Config, "a cache row of " + std::to_string(width) + " values cannot be split into " +
                                  kv_format_name(format) + " groups");
  }
  const auto cap = static_cast<std::size_t>(capacity_);
  t.data.resize(backend_, cap * r.row_bytes());
  r.data = t.data.data();
  if (r.group_size) {
    t.scales.resize(backend_, cap * static_cast<std::size_t>(r.groups()));
    t.biases.resize(backend_, cap * static_cast<std::size_t>(r.groups()));
    r.scales = t.scales.data();
    r.biases = t.biases.data();
  }
}

void LatentKvCache::convert(Tensor& t, KvFormat format) {
  if (t.rows.format == format || t.rows.empty()) return;
  Tensor old = std::move(t);
  allocate(t, format, old.rows.width);
  if (length_ == 0) return;
  BackendBuffer<float> tmp(backend_, static_cast<std::size_t>(length_ * old.rows.width));
  backend_.load_kv_rows(old.rows, 0, length_, tmp.data());
  backend_.store_kv_rows(t.rows, 0, tmp.data(), old.rows.width, length_);
}

void LatentKvCache::prepare_for_append() {
  if (!pending_quantization_ || length_ < options_.quantized_start) return;
  for (auto& layer : layers_) {
    convert(layer.latent, latent_format_);
    convert(layer.k_rope, rope_format_);
  }
  pending_quantization_ = false;
}

bool LatentKvCache::quantized() const {
  return !layers_.empty() && (layers_[0].latent.rows.format == KvFormat::Q8 || layers_[0].latent.rows.format == KvFormat::Q4);
}

void LatentKvCache::set_length(std::int64_t n) {
  if (n < 0 || n > capacity_)
    fail(ErrorKind::Capacity, "cache length " + std::to_string(n) + " outside 0.." + std::to_string(capacity_));
  length_ = n;
}

void LatentKvCache::clear() {
  length_ = 0;
  // A new sequence starts in float16 again until it reaches quantized_start, as a fresh cache would.
  if (options_.quantized_start > 0 && !pending_quantization_ && quantized()) {
    for (auto& layer : layers_) {
      if (layer.latent.rows.format != KvFormat::F16) convert(layer.latent, KvFormat::F16);
      if (layer.k_rope.rows.format == KvFormat::Q8 || layer.k_rope.rows.format == KvFormat::Q4) convert(layer.k_rope, KvFormat::F16);
    }
    pending_quantization_ = true;
  }
}

std::size_t LatentKvCache::bytes_per_token() const {
  std::size_t n = 0;
  for (const auto& l : layers_) {
    n += l.latent.rows.bytes_per_row() + l.k_rope.rows.bytes_per_row();
    if (!l.index_keys.rows.empty()) n += l.index_keys.rows.bytes_per_row();
  }
  return n;
}

std::size_t LatentKvCache::bytes() const { return bytes_per_token() * static_cast<std::size_t>(capacity_); }

}  // namespace glmq
