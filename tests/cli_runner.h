#pragma once
// Runs the glmq command line for tests: the built binary (GLMQ_BINARY_DIR/glmq), or the one GLMQ_CLI names (the
// device machine runs a copied binary), with stdout and stderr together.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace glmq::test {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

inline CommandResult run_glmq(const std::string& args) {
  const char* cli = std::getenv("GLMQ_CLI");
  const std::string cmd = (cli ? std::string(cli) : std::string(GLMQ_BINARY_DIR) + "/glmq") + " " + args + " 2>&1";
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t got;
  while ((got = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, got);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace glmq::test
