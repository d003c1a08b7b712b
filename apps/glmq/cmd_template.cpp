// glmq template: render a conversation with a model's chat template, as transformers'
// apply_chat_template(tokenize=False) does.
#include <cstdio>
#include <memory>
#include <string>

#include "apps/glmq/commands.h"
#include "core/error.h"
#include "tokenizer/chat_template.h"

namespace glmq::cli {
namespace {

struct TemplateOptions {
  std::string model;
  std::string messages;
  std::string tools;
  bool add_generation_prompt = false;
  std::string enable_thinking;
  std::string vars;
};

}  // namespace

void add_template_command(CLI::App& app) {
  auto opt = std::make_shared<TemplateOptions>();
  CLI::App* t = app.add_subcommand("template", "Print the prompt a model's chat template renders for a conversation");
  t->add_option("--model", opt->model, "Model directory holding tokenizer_config.json")->required();
  t->add_option("--messages", opt->messages, "JSON file with the list of messages")->required();
  t->add_option("--tools", opt->tools, "JSON file with the list of tool (function) definitions");
  t->add_flag("--add-generation-prompt", opt->add_generation_prompt, "End with the assistant turn's opening");
  t->add_option("--enable-thinking", opt->enable_thinking, "Pass enable_thinking=true|false to the template")
      ->check(CLI::IsMember({"true", "false"}));
  t->add_option("--vars", opt->vars, "JSON file with an object of further template variables");
  t->callback([opt] {
    const ChatTemplate chat_template = ChatTemplate::from_directory(opt->model);
    ChatRequest request;
    request.messages = read_ordered_json_file(opt->messages);
    if (!opt->tools.empty()) request.tools = read_ordered_json_file(opt->tools);
    request.add_generation_prompt = opt->add_generation_prompt;
    if (!opt->vars.empty()) {
      request.extra = read_ordered_json_file(opt->vars);
      if (!request.extra.is_object()) fail(ErrorKind::InvalidArgument, opt->vars + ": expected a JSON object of variables");
    }
    if (!opt->enable_thinking.empty()) request.extra["enable_thinking"] = opt->enable_thinking == "true";
    const std::string prompt = chat_template.render(request);
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  });
}

}  // namespace glmq::cli
