// `glmq ppl --ctx 512 --stride 256` on glm-mini reproduces MODEL.md's float32 perplexities within 0.2%.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace {

const std::string kShared = GLMQ_SHARED_DIR;

std::string run(const std::string& args, int& exit_code) {
  const std::string cmd = std::string(GLMQ_BINARY_DIR) + "/glmq " + args + " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  for (std::size_t got; (got = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, got);
  const int status = pclose(p);
  exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

double perplexity_in(const std::string& output) {
  const auto at = output.find("| PPL ");
  if (at == std::string::npos) return -1;
  return std::stod(output.substr(at + 6));
}

void expect_reference(const std::string& file, double want, const std::string& predictions) {
  const std::string model = kShared + "/models/glm-mini";
  if (!std::filesystem::exists(model + "/model.safetensors")) GTEST_SKIP() << "no " << model;
  int code = -1;
  const auto out =
      run("ppl --model " + model + " --data " + kShared + "/data/corpus/" + file + " --ctx 512 --stride 256 --threads 1", code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find(predictions + " predictions"), std::string::npos) << out;
  const double ppl = perplexity_in(out);
  EXPECT_NEAR(ppl, want, want * 0.002) << out;
}

TEST(PplReference, PythonCodeTest) { expect_reference("python-code-test.txt", 12.8815, "104691"); }
TEST(PplReference, PythonDocsTest) { expect_reference("python-docs-test.txt", 28.9486, "81258"); }

}  // namespace
