#include "backend/backend.h"

namespace glmq {

void Backend::moe(const MoeArgs& a) {
  const MoeExpertsArgs& e = a.experts;
  MoeRouteArgs route = a.route;
  route.logits = a.logits;
  // Routing and the shared expert are independent; the routed experts add onto the shared expert's output.
  const std::function<void()> chains[] = {[&] {
                                            // Router logits in float32 (the product accumulates in float32).
                                            linear(*a.router, e.x, e.n_tokens, a.logits);
                                            moe_route(route);
                                          },
                                          [&] {
                                            if (a.shared) {
                                              swiglu(*a.shared, e.x, e.n_tokens, e.out);
                                            } else {
                                              fill(e.out, 0.0f, e.n_tokens * a.router->cols);
                                            }
                                          }};
  independent(chains);
  moe_experts(e);
}

void Backend::attention_entry(const AttentionEntryArgs& a) {
  const std::int64_t n = a.n, R = a.latent_dim, rope = a.rope_dim, id = a.index_dim;
  auto queries = [&] { rms_norm(a.q_a, a.q_lora, a.q_a_norm, n, a.q_lora, a.eps, a.q_a_normed); };
  auto latents = [&] {
    rms_norm(a.kv_a, R + rope, a.kv_a_norm, n, R, a.eps, a.latent);
    this->rope(a.kv_a, n, R + rope, 1, R + rope, R, a.positions, *a.rope);
    // Each row goes to its position as read from backend memory, so that a replayed decode step writes its own.
    for (const AttentionEntryChunk& c : a.chunks) {
      const std::int32_t* pos = a.positions + c.row;
      store_kv_rows_at(c.latent, pos, a.latent + c.row * R, R, c.n);
      store_kv_rows_at(c.k_rope, pos, a.kv_a + c.row * (R + rope) + R, R + rope, c.n);
    }
  };
  auto index_keys = [&] {
    layer_norm(a.index_key, a.index_norm_weight, a.index_norm_bias, n, id, a.index_eps, a.index_key);
    this->rope(a.index_key, n, id, 1, id, 0, a.positions, *a.index_rope);
    linear(*a.head_weight_proj, a.hidden, n, a.head_weights);
    scale(a.head_weights, a.head_weight_scale, n * a.index_heads);
    for (const AttentionEntryChunk& c : a.chunks)
      store_kv_rows_at(c.index_keys, a.positions + c.row, a.index_key + c.row * id, id, c.n);
  };
  const std::function<void()> chains[] = {queries, latents, index_keys};
  independent({chains, a.index_key ? 3u : 2u});
}

}  // namespace glmq
