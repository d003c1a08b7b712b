#include "apps/glmq/chat_template_option.h"

#include "core/mapped_file.h"
#include "tokenizer/tokenizer_config.h"

namespace glmq::cli {

ChatTemplate load_chat_template(const std::string& model_dir, const std::string& template_file) {
  if (template_file.empty()) return ChatTemplate::from_directory(model_dir);
  const MappedFile file(template_file);
  return ChatTemplate(std::string(reinterpret_cast<const char*>(file.data()), file.size()), TokenizerConfig::from_directory(model_dir));
}

}  // namespace glmq::cli
