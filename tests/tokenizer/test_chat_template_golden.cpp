// Rendered prompts equal jinja2/transformers output byte for byte (GLM-5 and glm-mini templates).
#include <gtest/gtest.h>

#include "golden_util.h"
#include "tokenizer/chat_template.h"

namespace glmq::test {
namespace {

TEST(ChatTemplateGolden, RendersLikeTransformers) {
  TokenizerConfig config = TokenizerConfig::from_directory(mini_model_dir());
  const ChatTemplate mini(*config.chat_template, config);
  const ChatTemplate glm5(read_bytes(shared_path("docs/glm5_chat_template.jinja")), config);
  const auto golden = read_golden("chat_templates.json");
  std::size_t n = 0, glm5_cases = 0;
  for (const auto& c : golden["cases"]) {
    SCOPED_TRACE("case " + std::to_string(n++) + " (" + c["template"].get<std::string>() + ") " + c["messages"].dump());
    ChatRequest request;
    request.messages = c["messages"];
    request.tools = c["tools"];
    request.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    request.extra = c["extra"];
    const bool is_glm5 = c["template"] == "glm5";
    glm5_cases += is_glm5;
    EXPECT_EQ((is_glm5 ? glm5 : mini).render(request), c["expected"].get<std::string>());
  }
  EXPECT_GE(glm5_cases, 25u);
  EXPECT_GE(n, 50u);
}

}  // namespace
}  // namespace glmq::test
