#pragma once
// The prompts of lm-evaluation-harness's hellaswag, piqa and winogrande tasks (zero-shot), from their task
// configs: hellaswag.yaml + utils.py, piqa.yaml, winogrande default.yaml + preprocess_winogrande.py.
#include <string>
#include <string_view>
#include <vector>

#include "eval/multiple_choice.h"

namespace glmq::eval {

// Python's str.strip() and str.rstrip() for ASCII whitespace.
std::string python_strip(std::string_view text);
std::string python_rstrip(std::string_view text);

// hellaswag utils.preprocess: strip; " [title]" → ". "; drop "[...]" spans (never across a line break);
// "  " → " " (one non-overlapping pass, as str.replace does).
std::string hellaswag_preprocess(std::string_view text);

// lm-eval builds the query from activity_label + ": " + ctx_a + " " + ctx_b.capitalize(). The data here only
// has ctx = ctx_a + " " + ctx_b without the capitalisation (llama.cpp's preprocessed HellaSwag), so `ctx` is
// used as given: query = preprocess(activity_label + ": " + ctx); choices = preprocess(ending) each.
MultipleChoiceDoc hellaswag_doc(const std::string& activity_label, const std::string& ctx,
                                const std::vector<std::string>& endings, int label);

// "Question: {goal}\nAnswer:" with continuations " " + sol1 and " " + sol2.
MultipleChoiceDoc piqa_doc(const std::string& goal, const std::string& sol1, const std::string& sol2, int label);

// Partial scoring: the contexts are the sentence up to "_" with each option filled in, the shared
// continuation is " " + the stripped rest of the sentence. `answer` is "1" or "2".
// Throws InvalidArgument if the sentence has no "_" or the answer is not "1"/"2".
MultipleChoiceDoc winogrande_doc(const std::string& sentence, const std::string& option1, const std::string& option2,
                                 const std::string& answer);

// Length in Unicode code points, as Python's len(str): acc_norm's divisor.
std::size_t utf8_length(std::string_view text);

}  // namespace glmq::eval
