// glmq: quantize, run, serve and measure GLM-5.x (glm_moe_dsa) models.
#include <cstdio>
#include <exception>

#include "apps/glmq/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"glmq: run, quantize, serve and measure GLM-5.x (glm_moe_dsa) models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "glmq 0.1.0");
  glmq::cli::add_inspect_command(app);
  glmq::cli::add_logits_command(app);
  glmq::cli::add_run_command(app);
  glmq::cli::add_quantize_command(app);
  glmq::cli::add_imatrix_command(app);
  glmq::cli::add_plan_command(app);
  glmq::cli::add_tokenize_command(app);
  glmq::cli::add_template_command(app);
  glmq::cli::add_ppl_command(app);
  glmq::cli::add_eval_command(app);
  glmq::cli::add_bench_command(app);
  glmq::cli::add_serve_command(app);
  glmq::cli::add_chat_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const glmq::Error& e) {
    std::fprintf(stderr, "glmq: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "glmq: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
