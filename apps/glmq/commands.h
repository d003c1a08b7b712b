#pragma once
// Each subcommand lives in its own cmd_<name>.cpp and registers itself on the top-level app.
#include <CLI/CLI.hpp>

namespace glmq::cli {

void add_inspect_command(CLI::App& app);
void add_logits_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_imatrix_command(CLI::App& app);
void add_plan_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);  // registers tokenize and detokenize
void add_template_command(CLI::App& app);
void add_ppl_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_chat_command(CLI::App& app);

}  // namespace glmq::cli
