// CudaBackend::moe_experts: for few tokens, all routed experts in one grouped launch per stage with the
// routing read on the device; for many tokens (prefill), tokens are grouped per expert on the host and each
// expert runs as a matrix product over its tokens. CudaBackend::moe: the whole block, scheduled so that the
// routed experts' first stage runs beside the shared expert.
#include <functional>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace glmq {

using namespace cuda;

namespace {
// Up to this many (token, expert) slots the grouped kernels stream each slot's expert rows directly.
constexpr std::int64_t kGroupedMaxSlots = 64;
}  // namespace

bool CudaBackend::routed_q8(const MoeExpertsArgs& a, GroupedSwigluQ8Args& q) {
  const std::int64_t slots = a.n_tokens * a.top_k;
  if (slots > kGroupedMaxSlots || options_.exact_decode) return false;
  q.table = weights_.swiglu_table(a.expert_weights, a.n_experts, q.probe);
  if (!swiglu_q8_applies(q.probe, a.top_k)) return false;
  const std::int64_t hidden = q.probe.down.rows, inter = q.probe.gate.rows;
  q.expert_ids = a.experts;
  q.n_tokens = a.n_tokens;
  q.n_slots = slots;
  q.top_k = a.top_k;
  q.x = quantized(a.x, a.n_tokens, hidden);
  q.h = q8_view(scratch<std::uint8_t>(Scratch::Q8Hidden, q8_bytes(slots, inter)), slots, inter);
  q.slot_weights = a.weights;
  q.out = a.out;
  q.accumulate = true;
  return true;
}

void CudaBackend::moe_experts(const MoeExpertsArgs& a) {
  const std::int64_t slots = a.n_tokens * a.top_k;
  if (slots <= 0) return;
  if (slots > kGroupedMaxSlots) {
    moe_experts_on_host_groups(a);
    return;
  }
  GroupedSwigluQ8Args q;
  if (routed_q8(a, q)) {
    launch_grouped_gate_up_q8(q, stream_);
    launch_grouped_down_q8(q, sm_count_, stream_);
    written(a.out, static_cast<std::size_t>(a.n_tokens * q.probe.down.rows) * sizeof(float));
    return;
  }
  GroupedSwigluArgs g;
  g.table = weights_.swiglu_table(a.expert_weights, a.n_experts, g.probe);
  const std::int64_t hidden = g.probe.down.rows, inter = g.probe.gate.rows;
  g.expert_ids = a.experts;
  g.n_slots = slots;
  g.top_k = a.top_k;
  g.x = a.x;
  g.h = scratch<float>(Scratch::SwigluHidden, static_cast<std::size_t>(slots * inter));
  g.slot_weights = a.weights;
  g.y = scratch<float>(Scratch::MoeSlots, static_cast<std::size_t>(slots * hidden));
  launch_grouped_swiglu(g, sm_count_, stream_);
  launch_sum_slots(g.y, a.n_tokens, a.top_k, hidden, a.out, stream_);
  written(a.out, static_cast<std::size_t>(a.n_tokens * hidden) * sizeof(float));
}

void CudaBackend::moe(const MoeArgs& a) {
  const MoeExpertsArgs& e = a.experts;
  const std::int64_t n = e.n_tokens, hidden = a.router->cols;
  // Prepared before the fork: the int8 copy of x (if it is made here) is then on the main stream before both
  // branches read it.
  GroupedSwigluQ8Args q;
  if (n * e.top_k <= 0 || !routed_q8(e, q)) {
    Backend::moe(a);
    return;
  }
  MoeRouteArgs route = a.route;
  route.logits = a.logits;
  const std::function<void()> chains[] = {
      [&] {
        linear(*a.router, e.x, n, a.logits);
        moe_route(route);
        launch_grouped_gate_up_q8(q, stream_);
      },
      [&] {
        // Its own hidden scratch: the routed gate+up writes Q8Hidden at the same time.
        if (!a.shared) {
          fill(e.out, 0.0f, n * hidden);
        } else if (!swiglu_q8(*a.shared, e.x, n, e.out, Scratch::Q8SharedHidden)) {
          swiglu(*a.shared, e.x, n, e.out);
        }
      }};
  independent(chains);
  launch_grouped_down_q8(q, sm_count_, stream_);
  written(e.out, static_cast<std::size_t>(n * hidden) * sizeof(float));
}

void CudaBackend::moe_experts_on_host_groups(const MoeExpertsArgs& a) {
  written_all();  // scatters into a.out row by row
  const std::int64_t slots = a.n_tokens * a.top_k;
  const std::int64_t hidden = a.expert_weights[0].gate.cols;
  std::vector<std::int32_t> experts(static_cast<std::size_t>(slots));
  std::vector<float> weights(static_cast<std::size_t>(slots));
  download(experts.data(), a.experts, experts.size() * sizeof(std::int32_t));
  download(weights.data(), a.weights, weights.size() * sizeof(float));
  // Counting sort of the slots by expert: rows (token ids) and weights laid out expert after expert.
  std::vector<std::int64_t> start(static_cast<std::size_t>(a.n_experts + 1), 0);
  for (std::int32_t e : experts) {
    if (e < 0 || e >= a.n_experts) fail(ErrorKind::InvalidArgument, "routed expert id " + std::to_string(e) + " out of range");
    ++start[static_cast<std::size_t>(e) + 1];
  }
  for (std::int64_t e = 0; e < a.n_experts; ++e) start[static_cast<std::size_t>(e + 1)] += start[static_cast<std::size_t>(e)];
  std::vector<std::int32_t> rows(static_cast<std::size_t>(slots));
  std::vector<float> row_weights(static_cast<std::size_t>(slots));
  std::vector<std::int64_t> fill = start;
  for (std::int64_t s = 0; s < slots; ++s) {
    const auto e = static_cast<std::size_t>(experts[static_cast<std::size_t>(s)]);
    const auto at = static_cast<std::size_t>(fill[e]++);
    rows[at] = static_cast<std::int32_t>(s / a.top_k);
    row_weights[at] = weights[static_cast<std::size_t>(s)];
  }
  auto* d_rows = scratch<std::int32_t>(Scratch::MoeRows, rows.size());
  auto* d_weights = scratch<float>(Scratch::MoeWeights, row_weights.size());
  upload(d_rows, rows.data(), rows.size() * sizeof(std::int32_t));
  upload(d_weights, row_weights.data(), row_weights.size() * sizeof(float));
  std::int64_t largest = 0;
  for (std::int64_t e = 0; e < a.n_experts; ++e)
    largest = std::max(largest, start[static_cast<std::size_t>(e + 1)] - start[static_cast<std::size_t>(e)]);
  float* in = scratch<float>(Scratch::MoeIn, static_cast<std::size_t>(largest * hidden));
  float* res = scratch<float>(Scratch::MoeOut, static_cast<std::size_t>(largest * hidden));
  for (std::int64_t e = 0; e < a.n_experts; ++e) {
    const std::int64_t first = start[static_cast<std::size_t>(e)], m = start[static_cast<std::size_t>(e + 1)] - first;
    if (m == 0) continue;
    launch_gather_rows(a.x, d_rows + first, m, hidden, in, stream_);
    written(in, static_cast<std::size_t>(m * hidden) * sizeof(float));  // a cached int8 copy of `in` is stale
    swiglu(a.expert_weights[e], in, m, res);
    // Experts run one after another on the stream, so a token's rows are never added to concurrently.
    launch_scatter_add_rows(res, d_rows + first, d_weights + first, m, hidden, a.out, stream_);
  }
}

}  // namespace glmq
