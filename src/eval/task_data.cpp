#include "eval/task_data.h"

#include "core/error.h"
#include "eval/jsonl_file.h"
#include "eval/lm_eval_prompts.h"

namespace glmq::eval {

namespace {
bool reached(std::int64_t limit, const MultipleChoiceTask& task) {
  return limit > 0 && static_cast<std::int64_t>(task.docs.size()) >= limit;
}

// Turns an InvalidArgument from prompt construction into a Format error naming the record.
template <typename Build>
MultipleChoiceDoc build_doc(const JsonlRecord& record, Build build) {
  MultipleChoiceDoc doc;
  try {
    doc = build();
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::InvalidArgument) throw;
    fail(ErrorKind::Format, record.where() + ": " + e.what());
  }
  doc.source = record.where();
  return doc;
}
}  // namespace

const std::vector<std::string>& known_task_names() {
  static const std::vector<std::string> names = {"hellaswag", "piqa", "winogrande"};
  return names;
}

MultipleChoiceTask load_hellaswag(const std::string& jsonl_path, std::int64_t limit) {
  MultipleChoiceTask task{"hellaswag", true, {}};
  for_each_jsonl_record(jsonl_path, [&](const JsonlRecord& r) {
    task.docs.push_back(build_doc(r, [&] {
      auto endings = r.string_array_field("endings");
      const std::int64_t label = r.integer_field("label");
      if (endings.size() != 4)
        fail(ErrorKind::InvalidArgument, "expected 4 endings, found " + std::to_string(endings.size()));
      if (label < 0 || label > 3)
        fail(ErrorKind::InvalidArgument, "label should be 0-3, found " + std::to_string(label));
      return hellaswag_doc(r.string_field("activity_label"), r.string_field("ctx"), endings, static_cast<int>(label));
    }));
    return !reached(limit, task);
  });
  return task;
}

MultipleChoiceTask load_piqa(const std::string& jsonl_path, const std::string& labels_path, std::int64_t limit) {
  MultipleChoiceTask task{"piqa", true, {}};
  const auto labels = read_lines(labels_path);
  std::size_t index = 0;
  for_each_jsonl_record(jsonl_path, [&](const JsonlRecord& r) {
    if (index >= labels.size())
      fail(ErrorKind::Format, r.where() + ": no label for this record: " + labels_path + " has only " +
                                  std::to_string(labels.size()) + " lines");
    const std::string& label = labels[index];
    if (label != "0" && label != "1")
      fail(ErrorKind::Format,
           labels_path + ":" + std::to_string(index + 1) + ": label should be 0 or 1, found \"" + label + "\"");
    ++index;
    task.docs.push_back(build_doc(r, [&] {
      return piqa_doc(r.string_field("goal"), r.string_field("sol1"), r.string_field("sol2"), label == "1" ? 1 : 0);
    }));
    return !reached(limit, task);
  });
  return task;
}

MultipleChoiceTask load_winogrande(const std::string& jsonl_path, std::int64_t limit) {
  MultipleChoiceTask task{"winogrande", false, {}};
  for_each_jsonl_record(jsonl_path, [&](const JsonlRecord& r) {
    task.docs.push_back(build_doc(r, [&] {
      return winogrande_doc(r.string_field("sentence"), r.string_field("option1"), r.string_field("option2"),
                            r.string_field("answer"));
    }));
    return !reached(limit, task);
  });
  return task;
}

MultipleChoiceTask load_task(const std::string& name, const std::string& data_dir, std::int64_t limit) {
  if (name == "hellaswag") return load_hellaswag(data_dir + "/hellaswag/hellaswag_val_preprocessed.jsonl", limit);
  if (name == "piqa") return load_piqa(data_dir + "/piqa/valid.jsonl", data_dir + "/piqa/valid-labels.lst", limit);
  if (name == "winogrande") return load_winogrande(data_dir + "/winogrande/dev.jsonl", limit);
  fail(ErrorKind::InvalidArgument, "unknown task '" + name + "' (known: hellaswag, piqa, winogrande)");
}

}  // namespace glmq::eval
