#pragma once
// Zero-shot multiple-choice documents as lm-evaluation-harness builds them: one log-likelihood request
// (context, continuation) per choice; the choice with the highest log-likelihood is the answer.
#include <cstdint>
#include <string>
#include <vector>

namespace glmq::eval {

struct LoglikelihoodRequest {
  std::string context, continuation;
};

struct MultipleChoiceDoc {
  std::string source;                          // "FILE:LINE", for messages
  std::vector<LoglikelihoodRequest> requests;  // one per choice
  // lm-eval's doc_to_choice strings; acc_norm divides each log-likelihood by its length in characters.
  std::vector<std::string> choices;
  int gold = 0;
};

struct MultipleChoiceTask {
  std::string name;
  bool reports_acc_norm = false;  // lm-eval's task config lists acc_norm (HellaSwag, PIQA; not WinoGrande)
  std::vector<MultipleChoiceDoc> docs;
};

// lm-eval's target delimiter between a context and its continuation.
inline constexpr const char* kTargetDelimiter = " ";

}  // namespace glmq::eval
