// Continuous batching: sequences stepped together (prompt chunks and decode tokens mixed in one pass) give
// the same logits as each sequence run alone.
#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "core/progress.h"
#include "fixture_util.h"
#include "model/weights.h"
#include "runtime/sequence_batch.h"
#include "runtime/session.h"

namespace glmq {
namespace {

TEST(SequenceBatch, MixedStepsEqualSeparateSessions) {
  set_quiet(true);
  const std::string dir = test::fixture_dir("tiny-long");
  auto model = Model::load_hf(dir);
  SafetensorsFile ref(dir + "/reference.safetensors");
  auto ids = test::read_ref(ref, "input_ids").i32;
  const auto V = static_cast<std::size_t>(model->weights.config.vocab_size);
  CpuBackend backend;

  // Three sequences: A = ids[0..200) then decodes, B = ids[50..130) in two chunks, C = ids[10..60).
  std::vector<std::int32_t> a(ids.begin(), ids.begin() + 200), b(ids.begin() + 50, ids.begin() + 130),
      c(ids.begin() + 10, ids.begin() + 60);
  auto alone = [&](const std::vector<std::int32_t>& seq) {
    Session s(model->weights, backend, 256);
    auto l = s.prefill(seq, true);
    return std::vector<float>(l.begin(), l.end());
  };
  const auto ra = alone(std::vector<std::int32_t>(ids.begin(), ids.begin() + 203));
  const auto rb = alone(b), rc = alone(c);

  SequenceBatch batch(model->weights, backend, 3, 256);
  const int sa = batch.acquire(), sb = batch.acquire(), sc = batch.acquire();
  EXPECT_THROW(batch.acquire(), Error);
  const double tol = 1e-3 * test::stddev(ra);
  auto check = [&](std::span<const float> got, const std::vector<float>& want, std::size_t row, const char* what) {
    EXPECT_LE(test::max_abs_diff(got.data(), want.data() + row * V, V), tol) << what << " row " << row;
  };
  // Step 1: A's whole prompt with all logits, B's first 40 tokens, C's prompt.
  {
    std::vector<SequenceBatch::Step> steps{{sa, a, true}, {sb, std::span(b).first(40), false}, {sc, c, false}};
    auto out = batch.step(steps);
    ASSERT_EQ(out[0].size(), 200 * V);
    for (std::size_t r = 0; r < 200; r += 37) check(out[0].subspan(r * V, V), ra, r, "A prefill");
    check(out[1], rb, 39, "B chunk 1");
    check(out[2], rc, 49, "C prefill");
  }
  // Step 2: A decodes ids[200], B sends its remaining 40 tokens.
  {
    std::vector<SequenceBatch::Step> steps{{sb, std::span(b).subspan(40), false}, {sa, std::span(ids).subspan(200, 1), false}};
    auto out = batch.step(steps);
    check(out[0], rb, 79, "B chunk 2");
    check(out[1], ra, 200, "A decode");
  }
  // Releasing C frees a slot that starts empty; A keeps decoding alone.
  batch.release(sc);
  EXPECT_EQ(batch.free_slots(), 1);
  EXPECT_EQ(batch.position(batch.acquire()), 0);
  std::vector<SequenceBatch::Step> steps{{sa, std::span(ids).subspan(201, 2), false}};
  check(batch.step(steps)[0], ra, 202, "A decode 2");
  EXPECT_EQ(batch.position(sa), 203);
  std::vector<SequenceBatch::Step> twice{{sa, std::span(ids).subspan(0, 1), false}, {sa, std::span(ids).subspan(0, 1), false}};
  EXPECT_THROW(batch.step(twice), Error);
}

}  // namespace
}  // namespace glmq
