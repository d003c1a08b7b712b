#include "eval/strided_windows.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace glmq::eval {

std::vector<StridedWindow> plan_strided_windows(std::int64_t n_tokens, std::int64_t context, std::int64_t stride) {
  if (n_tokens < 2)
    fail(ErrorKind::InvalidArgument, "perplexity needs at least 2 tokens of text, got " + std::to_string(n_tokens));
  if (context < 2) fail(ErrorKind::InvalidArgument, "--ctx must be at least 2, got " + std::to_string(context));
  if (stride < 1 || stride >= context)
    fail(ErrorKind::InvalidArgument,
         "--stride must be in [1, ctx=" + std::to_string(context) + "), got " + std::to_string(stride));
  std::vector<StridedWindow> windows;
  std::int64_t scored_until = 0;  // tokens before this have been scored (token 0 never is: nothing predicts it)
  for (std::int64_t begin = 0;; begin += stride) {
    const std::int64_t end = std::min(begin + context, n_tokens);
    // Nothing inside a window predicts its first token, so scoring starts one past `begin` at the earliest
    // (only the first window is affected: later ones start scoring at the previous end, past their begin).
    StridedWindow w{begin, end, std::max(scored_until, begin + 1)};
    windows.push_back(w);
    scored_until = end;
    if (end == n_tokens) break;
  }
  return windows;
}

}  // namespace glmq::eval
