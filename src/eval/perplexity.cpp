#include "eval/perplexity.h"

#include <chrono>

#include "core/error.h"
#include "core/progress.h"
#include "eval/log_softmax.h"

namespace glmq::eval {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Scores rows of `logits` ([targets.size() × vocab]) against `targets`.
void score_rows(std::span<const float> logits, std::span<const std::int32_t> targets, PerplexityRun& run,
                const ScoredRowVisitor& visit) {
  const std::size_t vocab = logits.size() / targets.size();
  for (std::size_t r = 0; r < targets.size(); ++r) {
    auto row = logits.subspan(r * vocab, vocab);
    const double nll = -token_log_prob(row, targets[r]);
    run.nll.add(nll);
    if (visit) visit(row, targets[r], nll);
  }
}

void check_fits(const Session& session, std::int64_t length, const char* what) {
  if (length > session.context())
    fail(ErrorKind::Capacity, std::string(what) + " of " + std::to_string(length) +
                                  " tokens does not fit the session's context of " + std::to_string(session.context()));
}
}  // namespace

PerplexityRun strided_perplexity(Session& session, std::span<const std::int32_t> tokens,
                                 const std::vector<StridedWindow>& windows, const ScoredRowVisitor& visit) {
  PerplexityRun run;
  Progress progress("perplexity", windows.size());
  const auto t0 = std::chrono::steady_clock::now();
  for (const StridedWindow& w : windows) {
    check_fits(session, w.end - w.begin, "a window");
    session.reset();
    // Logits at position p predict token p + 1: the scored targets [first_target, end) need the rows of
    // positions [first_target − 1, end − 1). The window's last token is only ever a target.
    const std::int64_t head_end = w.first_target - 1;
    if (head_end > w.begin) session.prefill(tokens.subspan(w.begin, head_end - w.begin), false);
    auto logits = session.prefill(tokens.subspan(head_end, w.end - 1 - head_end), true);
    score_rows(logits, tokens.subspan(w.first_target, w.end - w.first_target), run, visit);
    run.tokens_fed += w.end - 1 - w.begin;
    progress.advance();
  }
  run.seconds = seconds_since(t0);
  progress.finish(std::to_string(windows.size()) + " windows in " + std::to_string(run.seconds) + " s");
  return run;
}

PerplexityRun sequences_perplexity(Session& session, const std::vector<std::vector<std::int32_t>>& sequences,
                                   const ScoredRowVisitor& visit) {
  PerplexityRun run;
  Progress progress("perplexity", sequences.size());
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& seq : sequences) {
    if (seq.size() < 2) fail(ErrorKind::InvalidArgument, "a perplexity sequence needs at least 2 tokens");
    const auto fed = static_cast<std::int64_t>(seq.size()) - 1;
    check_fits(session, fed, "a sequence");
    session.reset();
    std::span<const std::int32_t> all(seq);
    auto logits = session.prefill(all.first(static_cast<std::size_t>(fed)), true);
    score_rows(logits, all.subspan(1), run, visit);
    run.tokens_fed += fed;
    progress.advance();
  }
  run.seconds = seconds_since(t0);
  progress.finish(std::to_string(sequences.size()) + " sequences in " + std::to_string(run.seconds) + " s");
  return run;
}

}  // namespace glmq::eval
