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

}  // namespace glmq
