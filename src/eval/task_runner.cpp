#include "eval/task_runner.h"

#include <chrono>
#include <cmath>

#include "core/error.h"
#include "core/progress.h"
#include "eval/lm_eval_prompts.h"
#include "eval/nll_stats.h"

namespace glmq::eval {

namespace {
int first_argmax(const std::vector<double>& v) {
  int best = 0;
  for (std::size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[static_cast<std::size_t>(best)]) best = static_cast<int>(i);
  return best;
}
}  // namespace

DocOutcome judge_doc(const MultipleChoiceDoc& doc, const std::vector<double>& loglikelihoods) {
  if (loglikelihoods.size() != doc.choices.size() || loglikelihoods.empty())
    fail(ErrorKind::InvalidArgument, doc.source + ": " + std::to_string(loglikelihoods.size()) +
                                         " log-likelihoods for " + std::to_string(doc.choices.size()) + " choices");
  std::vector<double> normalized(loglikelihoods.size());
  for (std::size_t i = 0; i < normalized.size(); ++i)
    normalized[i] = loglikelihoods[i] / static_cast<double>(utf8_length(doc.choices[i]));
  DocOutcome out;
  out.predicted = first_argmax(loglikelihoods);
  out.predicted_norm = first_argmax(normalized);
  out.correct = out.predicted == doc.gold;
  out.correct_norm = out.predicted_norm == doc.gold;
  return out;
}

MeanWithStderr mean_with_stderr(const std::vector<double>& values) {
  NllStats stats;  // a running mean and sample variance, whatever the values are
  for (double v : values) stats.add(v);
  MeanWithStderr out;
  out.mean = stats.mean();
  out.stderr_ = values.empty() ? 0 : std::sqrt(stats.variance() / static_cast<double>(values.size()));
  return out;
}

TaskResult run_task(LoglikelihoodScorer& scorer, const MultipleChoiceTask& task, const DocVisitor& visit) {
  Progress progress(task.name, task.docs.size());
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t fed0 = scorer.tokens_fed();
  std::vector<double> acc, acc_norm;
  std::vector<double> lls;
  for (std::size_t d = 0; d < task.docs.size(); ++d) {
    const auto& doc = task.docs[d];
    const auto scores = scorer.score(doc.requests);
    lls.clear();
    for (const auto& s : scores) lls.push_back(s.loglikelihood);
    const DocOutcome outcome = judge_doc(doc, lls);
    acc.push_back(outcome.correct ? 1.0 : 0.0);
    acc_norm.push_back(outcome.correct_norm ? 1.0 : 0.0);
    if (visit) visit(d, doc, scores, outcome);
    progress.advance();
  }
  TaskResult result;
  result.docs = static_cast<std::int64_t>(task.docs.size());
  result.acc = mean_with_stderr(acc);
  result.acc_norm = mean_with_stderr(acc_norm);
  result.tokens_fed = scorer.tokens_fed() - fed0;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  progress.finish(std::to_string(result.docs) + " documents in " + std::to_string(result.seconds) + " s");
  return result;
}

}  // namespace glmq::eval
