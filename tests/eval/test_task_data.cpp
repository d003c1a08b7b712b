// Task data files: the shared files load with the documented counts, and malformed lines stop with an error
// that names the file and line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "eval/task_data.h"

namespace glmq::eval {
namespace {

const std::string kData = std::string(GLMQ_SHARED_DIR) + "/data";

std::string write_file(const std::string& name, const std::string& text) {
  auto path = (std::filesystem::temp_directory_path() / ("glmq_eval_" + name)).string();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

void expect_error_naming(const std::function<void()>& f, const std::string& where, const std::string& what) {
  try {
    f();
    FAIL() << "no error, expected one naming " << where;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Format) << e.what();
    EXPECT_NE(std::string(e.what()).find(where), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST(TaskData, SharedFilesLoad) {
  if (!std::filesystem::exists(kData + "/piqa/valid.jsonl")) GTEST_SKIP() << "no " << kData;
  auto piqa = load_task("piqa", kData, 0);
  EXPECT_EQ(piqa.docs.size(), 1838u);
  auto wino = load_task("winogrande", kData, 0);
  EXPECT_EQ(wino.docs.size(), 1267u);
  EXPECT_FALSE(wino.reports_acc_norm);
  auto hs = load_task("hellaswag", kData, 500);
  ASSERT_EQ(hs.docs.size(), 500u);
  EXPECT_EQ(hs.docs[0].requests[0].context, "Roof shingle removal: A man is sitting on a roof. he");
  EXPECT_EQ(hs.docs[0].gold, 3);
  EXPECT_NE(hs.docs[0].source.find("hellaswag_val_preprocessed.jsonl:1"), std::string::npos);
  EXPECT_THROW(load_task("mmlu", kData, 0), Error);
}

TEST(TaskData, MalformedJsonNamesFileAndLine) {
  auto path = write_file("bad_json.jsonl",
                         "{\"sentence\": \"a _ b\", \"option1\": \"x\", \"option2\": \"y\", \"answer\": \"1\"}\n"
                         "\n"
                         "{\"sentence\": \"a _ b\", \"option1\": \"x\"\n");
  expect_error_naming([&] { load_winogrande(path, 0); }, path + ":3", "not valid JSON");
}

TEST(TaskData, MissingOrMistypedFieldsNameFileAndLine) {
  auto missing = write_file("missing.jsonl", "{\"sentence\": \"a _ b\", \"option1\": \"x\", \"answer\": \"1\"}\n");
  expect_error_naming([&] { load_winogrande(missing, 0); }, missing + ":1", "option2");
  auto typed = write_file(
      "typed.jsonl",
      "{\"activity_label\": \"a\", \"ctx\": \"b\", \"endings\": [\"1\",\"2\",\"3\",\"4\"], \"label\": \"3\"}\n");
  expect_error_naming([&] { load_hellaswag(typed, 0); }, typed + ":1", "integer");
  auto three = write_file(
      "three.jsonl", "{\"activity_label\": \"a\", \"ctx\": \"b\", \"endings\": [\"1\",\"2\",\"3\"], \"label\": 0}\n");
  expect_error_naming([&] { load_hellaswag(three, 0); }, three + ":1", "4 endings");
  auto array = write_file("array.jsonl", "[1, 2]\n");
  expect_error_naming([&] { load_hellaswag(array, 0); }, array + ":1", "JSON object");
  auto blank = write_file("blank.jsonl",
                          "{\"sentence\": \"no blank\", \"option1\": \"x\", \"option2\": \"y\", \"answer\": \"1\"}\n");
  expect_error_naming([&] { load_winogrande(blank, 0); }, blank + ":1", "'_'");
}

TEST(TaskData, PiqaLabelsMustMatchRecords) {
  auto jsonl = write_file("piqa.jsonl",
                          "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\"}\n"
                          "{\"goal\": \"h\", \"sol1\": \"c\", \"sol2\": \"d\"}\n");
  auto short_labels = write_file("piqa_short.lst", "1\n");
  expect_error_naming([&] { load_piqa(jsonl, short_labels, 0); }, jsonl + ":2", "no label");
  auto bad_labels = write_file("piqa_bad.lst", "1\n2\n");
  expect_error_naming([&] { load_piqa(jsonl, bad_labels, 0); }, bad_labels + ":2", "0 or 1");
  auto good = write_file("piqa_good.lst", "1\n0\n");
  auto task = load_piqa(jsonl, good, 0);
  ASSERT_EQ(task.docs.size(), 2u);
  EXPECT_EQ(task.docs[0].gold, 1);
  EXPECT_EQ(load_piqa(jsonl, good, 1).docs.size(), 1u);
}

}  // namespace
}  // namespace glmq::eval
