// A long context on the CPU: chunked prefill is independent of the chunking, runs in workspace bounded by the
// chunk, and equals one-token sparse decode (top-64 of up to 8192 positions).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "backend/cpu/cpu_backend.h"
#include "core/float_convert.h"
#include "core/json_file.h"
#include "core/progress.h"
#include "fixture_util.h"
#include "model/weights.h"
#include "runtime/session.h"

namespace glmq {
namespace {

// tiny-c with its weight matrices scaled down: the same architecture, but calm (not chaotic), so one near-tie
// flipping in a top-64 out of thousands changes the logits a little instead of everything downstream.
std::string calm_long_context_model() {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "glmq_calm_tiny_c";
  fs::create_directories(dir);
  Json config = read_json_file(test::fixture_dir("tiny-c") + "/config.json");
  config["max_position_embeddings"] = 65536;
  std::ofstream(dir / "config.json", std::ios::trunc) << config.dump(2);
  static std::vector<std::vector<std::uint16_t>> storage;
  SafetensorsFile src(test::fixture_dir("tiny-c") + "/model.safetensors");
  std::vector<TensorToWrite> out;
  for (const auto& t : src.tensors()) {
    if (t.shape.size() == 2 && t.dtype == FileDType::BF16) {
      const auto* v = reinterpret_cast<const std::uint16_t*>(t.data);
      storage.emplace_back(static_cast<std::size_t>(t.numel()));
      for (std::size_t i = 0; i < storage.back().size(); ++i) storage.back()[i] = f32_to_bf16(0.3f * bf16_to_f32(v[i]));
      out.push_back({t.name, t.shape, t.dtype, storage.back().data(), t.nbytes});
    } else {
      out.push_back({t.name, t.shape, t.dtype, t.data, t.nbytes});
    }
  }
  write_safetensors((dir / "model.safetensors").string(), out);
  return dir.string();
}

TEST(LongContext, ChunkedPrefillEqualsDecode) {
  constexpr int KV_BITS = 32;  // exact storage: only the kernels' summation order differs between the two paths
  set_quiet(true);
  // tiny-c's indexer (2 heads × 16) keeps 8K² scoring cheap; its top-64 makes attention sparse almost everywhere.
  auto model = Model::load_hf(calm_long_context_model());
  const std::int64_t T = 8192;
  std::vector<std::int32_t> ids(static_cast<std::size_t>(T));
  for (std::int64_t t = 0; t < T; ++t) ids[static_cast<std::size_t>(t)] = static_cast<std::int32_t>((t * 7919 + 13) % 300);
  const auto V = static_cast<std::size_t>(model->weights.config.vocab_size);
  CpuBackend backend;
  auto prefill = [&](std::int64_t chunk, Session& s) {
    s.set_prefill_chunk(chunk);
    auto all = s.prefill(ids, true);
    return std::vector<float>(all.begin(), all.end());
  };
  Session chunked(model->weights, backend, T, {.kv_bits = KV_BITS});
  const auto by_chunks = prefill(1000, chunked);
  EXPECT_LE(chunked.workspace_rows(), 1000);  // activation memory follows the chunk, not the prompt
  // With an 8-bit cache too, the chunking does not change a single logit.
  {
    Session q8_chunked(model->weights, backend, T, {.kv_bits = 8}), q8_whole(model->weights, backend, T, {.kv_bits = 8});
    const auto a = prefill(1000, q8_chunked), b = prefill(T, q8_whole);
    EXPECT_LE(test::max_abs_diff(a.data(), b.data(), a.size()), 1e-5 * test::stddev(b));
    EXPECT_LT(q8_chunked.cache().bytes(), chunked.cache().bytes() / 2);
  }
  Session whole(model->weights, backend, T, {.kv_bits = KV_BITS});
  const auto at_once = prefill(T, whole);
  const double std = test::stddev(at_once);
  // Many-row products are the same kernel whatever the chunking: identical logits.
  EXPECT_LE(test::max_abs_diff(by_chunks.data(), at_once.data(), by_chunks.size()), 1e-5 * std);

  // One-token decode uses the one-row kernels, whose sums run in another order, so a near-tie at the 64th place
  // of a top-k among thousands may rarely flip: nearly every position equal within 1e-2·std, the same argmax.
  Session stepped(model->weights, backend, T, {.kv_bits = KV_BITS});
  std::int64_t close = 0, same_top = 0;
  auto check = [&](std::span<const float> l, std::int64_t t) {
    const float* want = by_chunks.data() + static_cast<std::size_t>(t) * V;
    close += test::max_abs_diff(l.data(), want, V) <= 1e-2 * std;
    same_top += std::max_element(l.begin(), l.end()) - l.begin() == std::max_element(want, want + V) - want;
  };
  check(stepped.prefill(std::span(ids).first(1)), 0);
  for (std::int64_t t = 1; t < T; ++t) check(stepped.decode(ids[static_cast<std::size_t>(t)]), t);
  std::printf("[long context] %lld tokens: decode vs chunked prefill close at %lld, same argmax at %lld positions; cache %.2f MB\n",
              static_cast<long long>(T), static_cast<long long>(close), static_cast<long long>(same_top),
              static_cast<double>(chunked.cache().bytes()) / 1e6);
  EXPECT_GE(close, T * 995 / 1000);
  EXPECT_GE(same_top, T * 998 / 1000);
}

}  // namespace
}  // namespace glmq
