// End-to-end parity with HF transformers on the tiny fixtures: logits, per-layer hidden states, indexer
// top-k sets, and decode-through-the-cache equal to prefill.
#include <gtest/gtest.h>

#include <set>

#include "backend/cpu/cpu_backend.h"
#include "core/progress.h"
#include "fixture_util.h"
#include "model/weights.h"
#include "runtime/session.h"

namespace glmq::test {
namespace {

class FixtureParity : public ::testing::TestWithParam<std::string> {};

struct Reference {
  std::vector<std::int32_t> ids;
  RefTensor logits;
  double logits_std = 0;
};

Reference load_reference(const SafetensorsFile& ref) {
  Reference r;
  r.ids = read_ref(ref, "input_ids").i32;
  r.logits = read_ref(ref, "logits");
  r.logits_std = stddev(r.logits.f32);
  return r;
}

TEST_P(FixtureParity, PrefillMatchesTransformers) {
  set_quiet(true);
  const std::string dir = fixture_dir(GetParam());
  auto model = Model::load_hf(dir);
  SafetensorsFile ref_file(dir + "/reference.safetensors");
  Reference ref = load_reference(ref_file);
  const GlmConfig& c = model->weights.config;
  const auto T = static_cast<std::int64_t>(ref.ids.size());

  CpuBackend backend;
  Session session(model->weights, backend, T);
  ForwardTrace trace;
  auto logits = session.prefill(ref.ids, true, &trace);
  ASSERT_EQ(logits.size(), static_cast<std::size_t>(T * c.vocab_size));

  const double tol = 1e-3 * ref.logits_std;
  double err = max_abs_diff(logits.data(), ref.logits.f32.data(), logits.size());
  RecordProperty("logits_max_abs_err", std::to_string(err));
  std::printf("[%s] logits max abs err %.3g (tolerance %.3g, std %.3f)\n", GetParam().c_str(), err, tol, ref.logits_std);
  EXPECT_LE(err, tol);

  // hidden.0 is the embedding output, hidden.l the output of layer l; the last one is after the final norm.
  for (std::int64_t l = 0; l <= c.num_hidden_layers; ++l) {
    RefTensor h = read_ref(ref_file, "hidden." + std::to_string(l));
    std::vector<float> mine = trace.hidden[static_cast<std::size_t>(l)];
    if (l == c.num_hidden_layers) {
      std::vector<float> normed(mine.size());
      backend.rms_norm(mine.data(), c.hidden_size, model->weights.final_norm.data(), T, c.hidden_size,
                       static_cast<float>(c.rms_norm_eps), normed.data());
      mine = normed;
    }
    ASSERT_EQ(mine.size(), h.f32.size());
    double herr = max_abs_diff(mine.data(), h.f32.data(), mine.size());
    double htol = 1e-3 * stddev(h.f32);
    EXPECT_LE(herr, htol) << "hidden state " << l;
    std::printf("[%s] hidden.%lld max abs err %.3g (tolerance %.3g)\n", GetParam().c_str(), static_cast<long long>(l), herr, htol);
  }

  // Every indexer layer's selected set equals the reference's (entries past the query are masked there).
  std::int64_t sparse_rows = 0;
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    if (!c.layer_runs_indexer[static_cast<std::size_t>(l)]) continue;
    RefTensor k = read_ref(ref_file, "topk." + std::to_string(l));
    const std::int64_t width = k.shape[1];
    ASSERT_EQ(trace.selection[static_cast<std::size_t>(l)].size(), static_cast<std::size_t>(T));
    for (std::int64_t t = 0; t < T; ++t) {
      std::set<std::int32_t> want;
      for (std::int64_t j = 0; j < width; ++j) {
        std::int32_t p = k.i32[static_cast<std::size_t>(t * width + j)];
        if (p <= t) want.insert(p);
      }
      const auto& got_v = trace.selection[static_cast<std::size_t>(l)][static_cast<std::size_t>(t)];
      std::set<std::int32_t> got(got_v.begin(), got_v.end());
      EXPECT_EQ(got, want) << "layer " << l << " query " << t;
      if (t + 1 > c.index_topk) ++sparse_rows;
    }
  }
  std::printf("[%s] %lld query rows had a real sparse selection\n", GetParam().c_str(), static_cast<long long>(sparse_rows));
}

TEST_P(FixtureParity, DecodeThroughCacheMatchesPrefill) {
  set_quiet(true);
  const std::string dir = fixture_dir(GetParam());
  auto model = Model::load_hf(dir);
  SafetensorsFile ref_file(dir + "/reference.safetensors");
  Reference ref = load_reference(ref_file);
  const std::int64_t V = model->weights.config.vocab_size;
  const auto T = static_cast<std::int64_t>(ref.ids.size());

  CpuBackend backend;
  Session prefill_session(model->weights, backend, T);
  auto all = prefill_session.prefill(ref.ids, true);
  std::vector<float> prefill_logits(all.begin(), all.end());

  Session decode_session(model->weights, backend, T);
  double worst = max_abs_diff(decode_session.prefill(std::span(ref.ids).first(1)).data(), prefill_logits.data(),
                              static_cast<std::size_t>(V));
  double worst_ref = 0;
  for (std::int64_t t = 1; t < T; ++t) {
    auto l = decode_session.decode(ref.ids[static_cast<std::size_t>(t)]);
    worst = std::max(worst, max_abs_diff(l.data(), prefill_logits.data() + t * V, static_cast<std::size_t>(V)));
    worst_ref = std::max(worst_ref, max_abs_diff(l.data(), ref.logits.f32.data() + t * V, static_cast<std::size_t>(V)));
  }
  std::printf("[%s] decode vs prefill max abs %.3g, decode vs HF %.3g\n", GetParam().c_str(), worst, worst_ref);
  EXPECT_LE(worst, 1e-3 * ref.logits_std);
  EXPECT_LE(worst_ref, 1e-3 * ref.logits_std);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureParity, ::testing::Values("tiny-a", "tiny-b", "tiny-c", "tiny-long"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace glmq::test
