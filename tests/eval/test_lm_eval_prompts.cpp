// lm-eval's prompts for hellaswag, piqa and winogrande, against strings derived by hand (and with Python's
// re/str for the preprocessing) from lm-eval's task configs.
#include <gtest/gtest.h>

#include "core/error.h"
#include "eval/lm_eval_prompts.h"
#include "eval/task_runner.h"

namespace glmq::eval {
namespace {

TEST(HellaswagPreprocess, MatchesLmEvalUtils) {
  // Expected values printed by lm-eval's utils.preprocess in Python.
  EXPECT_EQ(hellaswag_preprocess("  Foo [title] Bar [step] baz  qux [header]"), "Foo. Bar baz qux ");
  EXPECT_EQ(hellaswag_preprocess("a   b"), "a  b");
  EXPECT_EQ(hellaswag_preprocess("x [unclosed\n] y [ok] z"), "x [unclosed\n] y z");
  EXPECT_EQ(hellaswag_preprocess("[a]]b["), "]b[");
}

TEST(HellaswagPrompt, QueryAndChoices) {
  auto doc = hellaswag_doc("Roof shingle removal", "A man is sitting on a roof. he",
                           {"is using wrap to wrap a pair of skis.", "is ripping level tiles off.",
                            "is holding a rubik's cube.", "starts pulling up roofing on a roof."},
                           3);
  ASSERT_EQ(doc.requests.size(), 4u);
  EXPECT_EQ(doc.requests[0].context, "Roof shingle removal: A man is sitting on a roof. he");
  EXPECT_EQ(doc.requests[0].continuation, " is using wrap to wrap a pair of skis.");
  EXPECT_EQ(doc.requests[3].continuation, " starts pulling up roofing on a roof.");
  EXPECT_EQ(doc.choices[1], "is ripping level tiles off.");
  EXPECT_EQ(doc.gold, 3);
}

TEST(PiqaPrompt, QuestionAnswerFormat) {
  auto doc = piqa_doc("dresser", "replace drawer with bobby pin ", "finish, woodgrain with  bobby pin ", 1);
  ASSERT_EQ(doc.requests.size(), 2u);
  EXPECT_EQ(doc.requests[0].context, "Question: dresser\nAnswer:");
  EXPECT_EQ(doc.requests[0].continuation, " replace drawer with bobby pin ");
  EXPECT_EQ(doc.requests[1].continuation, " finish, woodgrain with  bobby pin ");
  EXPECT_EQ(doc.choices[1], "finish, woodgrain with  bobby pin ");
  EXPECT_EQ(doc.gold, 1);
}

TEST(WinograndePrompt, PartialScoringOfTheSuffix) {
  auto doc = winogrande_doc("Sarah was a much better surgeon than Maria so _ always got the easier cases.", "Sarah",
                            "Maria", "2");
  ASSERT_EQ(doc.requests.size(), 2u);
  EXPECT_EQ(doc.requests[0].context, "Sarah was a much better surgeon than Maria so Sarah");
  EXPECT_EQ(doc.requests[1].context, "Sarah was a much better surgeon than Maria so Maria");
  EXPECT_EQ(doc.requests[0].continuation, " always got the easier cases.");
  EXPECT_EQ(doc.requests[1].continuation, " always got the easier cases.");
  EXPECT_EQ(doc.gold, 1);
  EXPECT_THROW(winogrande_doc("no blank here", "a", "b", "1"), Error);
  EXPECT_THROW(winogrande_doc("a _ b", "a", "b", "3"), Error);
}

TEST(Scoring, AccNormDividesByCharacters) {
  MultipleChoiceDoc doc;
  doc.choices = {"ab", "abcdef", "é"};  // 2, 6 and 1 characters (é is two bytes)
  doc.gold = 1;
  auto out = judge_doc(doc, {-4.0, -6.0, -1.5});
  EXPECT_EQ(out.predicted, 2);       // −1.5 is the largest
  EXPECT_EQ(out.predicted_norm, 1);  // −2, −1, −1.5 per character
  EXPECT_FALSE(out.correct);
  EXPECT_TRUE(out.correct_norm);
  EXPECT_EQ(judge_doc(doc, {-1.0, -1.0, -9.0}).predicted, 0);  // ties go to the first, as np.argmax
}

TEST(Scoring, MeanAndStderrAsLmEval) {
  auto m = mean_with_stderr({1, 0, 1, 1});
  EXPECT_DOUBLE_EQ(m.mean, 0.75);
  EXPECT_NEAR(m.stderr_, std::sqrt(0.25 / 4.0), 1e-12);  // sample variance 0.25 (ddof 1) / n
}

TEST(PythonStrings, StripAndLength) {
  EXPECT_EQ(python_strip(" \t a b \n"), "a b");
  EXPECT_EQ(python_rstrip("  a b \n"), "  a b");
  EXPECT_EQ(python_strip("   "), "");
  EXPECT_EQ(utf8_length("naïve"), 5u);
}

}  // namespace
}  // namespace glmq::eval
