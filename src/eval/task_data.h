#pragma once
// Reading the task data files of ../shared/data (see its README.md) into lm-eval-style documents.
#include <cstdint>
#include <string>
#include <vector>

#include "eval/multiple_choice.h"

namespace glmq::eval {

// The task names `glmq eval --tasks` accepts.
const std::vector<std::string>& known_task_names();

// Loads the first `limit` documents (all when limit <= 0) of a task from `data_dir`:
//   hellaswag  : hellaswag/hellaswag_val_preprocessed.jsonl (activity_label, ctx, endings[4], label)
//   piqa       : piqa/valid.jsonl (goal, sol1, sol2) + piqa/valid-labels.lst (0/1, line-aligned)
//   winogrande : winogrande/dev.jsonl (sentence, option1, option2, answer "1"/"2")
// Malformed records are Format errors naming the file and line.
MultipleChoiceTask load_task(const std::string& name, const std::string& data_dir, std::int64_t limit);

// The loaders behind load_task, taking the files directly (tests use small files of their own).
MultipleChoiceTask load_hellaswag(const std::string& jsonl_path, std::int64_t limit);
MultipleChoiceTask load_piqa(const std::string& jsonl_path, const std::string& labels_path, std::int64_t limit);
MultipleChoiceTask load_winogrande(const std::string& jsonl_path, std::int64_t limit);

}  // namespace glmq::eval
