#pragma once
// Runs a multiple-choice task and scores it as lm-evaluation-harness does: acc is whether the highest
// log-likelihood choice is the gold one, acc_norm divides each log-likelihood by its choice's length in
// characters first; both are means over documents with standard error √(sample variance / n).
#include <cstdint>
#include <functional>
#include <vector>

#include "eval/loglikelihood_scorer.h"
#include "eval/multiple_choice.h"

namespace glmq::eval {

struct DocOutcome {
  int predicted = 0, predicted_norm = 0;  // argmax of log-likelihoods, and of log-likelihood / length
  bool correct = false, correct_norm = false;
};

// numpy's argmax semantics: the first of equal maxima wins.
DocOutcome judge_doc(const MultipleChoiceDoc& doc, const std::vector<double>& loglikelihoods);

struct MeanWithStderr {
  double mean = 0, stderr_ = 0;
};
// lm-eval's mean and mean_stderr (sample standard deviation over n − 1, divided by √n).
MeanWithStderr mean_with_stderr(const std::vector<double>& values);

struct TaskResult {
  std::int64_t docs = 0;
  MeanWithStderr acc, acc_norm;
  std::int64_t tokens_fed = 0;
  double seconds = 0;
};

// Called after each document with its index, scores (one per request) and outcome.
using DocVisitor = std::function<void(std::size_t index, const MultipleChoiceDoc&, const std::vector<RequestScore>&,
                                      const DocOutcome&)>;

TaskResult run_task(LoglikelihoodScorer& scorer, const MultipleChoiceTask& task, const DocVisitor& visit = {});

}  // namespace glmq::eval
