#pragma once
// The window schedule of strided (sliding-window) perplexity, as in HF transformers' perplexity guide and
// the glm-mini MODEL.md: window k (from 0) feeds tokens [k·stride, min(k·stride + context, n)) and scores only
// the predictions no earlier window scored; the first window scores all of its own; the last window ends at n.
#include <cstdint>
#include <vector>

namespace glmq::eval {

struct StridedWindow {
  std::int64_t begin = 0;         // first token fed to the model
  std::int64_t end = 0;           // one past the last token of the window
  std::int64_t first_target = 0;  // predictions of tokens [first_target, end) are scored; first_target > begin
};

// n_tokens >= 2, context >= 2, 1 <= stride < context (windows overlap, so each scored prediction has a row in
// its window). Every token 1 … n−1 is scored exactly once.
std::vector<StridedWindow> plan_strided_windows(std::int64_t n_tokens, std::int64_t context, std::int64_t stride);

}  // namespace glmq::eval
