#include "runtime/session.h"

#include <algorithm>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "core/error.h"

namespace glmq {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Session::Session(const Weights& weights, Backend& backend, std::int64_t context, const KvCacheOptions& kv)
    : weights_(weights), backend_(backend), cache_(weights.config, backend, context, kv), forward_(weights, backend) {}

std::span<const float> Session::prefill(std::span<const std::int32_t> tokens, bool all_logits, ForwardTrace* trace) {
  if (tokens.empty()) fail(ErrorKind::InvalidArgument, "prefill needs at least one token");
  const std::int64_t vocab = weights_.config.vocab_size;
  const auto n = static_cast<std::int64_t>(tokens.size());
  const std::int64_t rows = all_logits ? n : 1;
  if (static_cast<std::int64_t>(logits_.size()) < rows * vocab) logits_.resize(static_cast<std::size_t>(rows * vocab));
  auto t0 = std::chrono::steady_clock::now();
  // Chunked prefill: activation memory grows with the chunk, not with the prompt (a traced pass is one chunk).
  const std::int64_t chunk = trace ? n : prefill_chunk_;
  for (std::int64_t first = 0; first < n; first += chunk) {
    const std::int64_t m = std::min(chunk, n - first);
    const bool last = first + m == n;
    if (!all_logits && !last) {
      forward_.run(tokens.data() + first, m, cache_, false, trace);  // only the final chunk's last row is wanted
      continue;
    }
    const float* out = forward_.run(tokens.data() + first, m, cache_, all_logits, trace);
    float* dst = logits_.data() + (all_logits ? first * vocab : 0);
    backend_.download(dst, out, static_cast<std::size_t>((all_logits ? m : 1) * vocab) * sizeof(float));
  }
  stats_.prompt_tokens += n;
  stats_.prompt_seconds += seconds_since(t0);
  return {logits_.data(), static_cast<std::size_t>(rows * vocab)};
}

std::span<const float> Session::decode(std::int32_t token) {
  const std::int64_t vocab = weights_.config.vocab_size;
  if (static_cast<std::int64_t>(logits_.size()) < vocab) logits_.resize(static_cast<std::size_t>(vocab));
  auto t0 = std::chrono::steady_clock::now();
  const float* out = forward_.run(&token, 1, cache_, false);
  backend_.download(logits_.data(), out, static_cast<std::size_t>(vocab) * sizeof(float));
  stats_.decoded_tokens += 1;
  stats_.decode_seconds += seconds_since(t0);
  return {logits_.data(), static_cast<std::size_t>(vocab)};
}

void Session::set_prefill_chunk(std::int64_t tokens) {
  if (tokens <= 0) fail(ErrorKind::InvalidArgument, "prefill chunk must be positive, found " + std::to_string(tokens));
  prefill_chunk_ = tokens;
}

void Session::reset() {
  cache_.clear();
  stats_ = {};
}

void Session::truncate(std::int64_t length) {
  if (length > cache_.length())
    fail(ErrorKind::InvalidArgument, "truncate to " + std::to_string(length) + " tokens, the session holds " +
                                         std::to_string(cache_.length()));
  cache_.set_length(length);
}

std::int32_t argmax(std::span<const float> logits) {
  // std::max_element's answer (the first of equal maxima; a NaN wins only in front), found with 16 lanes: the largest
  // value (a NaN never compares greater), then its first position. Greedy decoding runs this on every token.
  const auto n = static_cast<std::int64_t>(logits.size());
  const float* x = logits.data();
  if (n == 0) return 0;
  float best = x[0];
  std::int64_t i = 0;
#if defined(__AVX512F__)
  __m512 lanes = _mm512_set1_ps(best);
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    lanes = _mm512_mask_mov_ps(lanes, _mm512_cmp_ps_mask(v, lanes, _CMP_GT_OQ), v);
  }
  alignas(64) float lane[16];
  _mm512_store_ps(lane, lanes);
  for (float v : lane) best = v > best ? v : best;
#endif
  for (; i < n; ++i) best = x[i] > best ? x[i] : best;
  if (best != best) return 0;  // x[0] is NaN
  i = 0;
#if defined(__AVX512F__)
  for (const __m512 b = _mm512_set1_ps(best); i + 16 <= n; i += 16)
    if (const __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), b, _CMP_EQ_OQ))
      return static_cast<std::int32_t>(i + __builtin_ctz(m));
#endif
  while (x[i] != best) ++i;
  return static_cast<std::int32_t>(i);
}

}  // namespace glmq
