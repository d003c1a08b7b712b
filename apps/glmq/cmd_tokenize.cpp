// glmq tokenize / detokenize: text <-> ids with a model directory's tokenizer.json or a GGUF file's tokenizer.
#include <charconv>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "apps/glmq/cli_common.h"
#include "apps/glmq/commands.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace glmq::cli {
namespace {

std::vector<uint32_t> parse_ids(const std::string& text) {
  std::vector<uint32_t> ids;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\n')) item.erase(item.begin());
    while (!item.empty() && (item.back() == ' ' || item.back() == '\n')) item.pop_back();
    uint32_t v = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || ptr != item.data() + item.size()) {
      fail(ErrorKind::InvalidArgument, "--ids: '" + item + "' is not a token id (expected comma-separated non-negative integers)");
    }
    ids.push_back(v);
    start = end + 1;
  }
  return ids;
}

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::Io, path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct TokenizeOptions {
  std::string model;
  std::string text;
  std::string file;
  bool no_special = false;
};

struct DetokenizeOptions {
  std::string model;
  std::string ids;
  bool skip_special = false;
};

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto tok = std::make_shared<TokenizeOptions>();
  CLI::App* t = app.add_subcommand("tokenize", "Print the token ids of a text (comma-separated), as HF tokenizers encodes it");
  t->add_option("--model", tok->model, "Model directory holding tokenizer.json, or a .gguf file")->required();
  auto* text_opt = t->add_option("--text", tok->text, "Text to encode");
  auto* file_opt = t->add_option("--file", tok->file, "Encode the bytes of this file instead of --text");
  text_opt->excludes(file_opt);
  t->add_flag("--no-special-tokens", tok->no_special, "Do not add the post-processor's special tokens (BOS/EOS)");
  t->callback([tok, text_opt, file_opt] {
    if (text_opt->count() == 0 && file_opt->count() == 0) fail(ErrorKind::InvalidArgument, "tokenize: give --text or --file");
    const Tokenizer tokenizer = load_tokenizer(tok->model);
    const std::string text = tok->file.empty() ? tok->text : read_file_bytes(tok->file);
    const std::vector<uint32_t> ids = tokenizer.encode(text, !tok->no_special);
    std::string line;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (i) line.push_back(',');
      line += std::to_string(ids[i]);
    }
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stdout);
  });

  auto detok = std::make_shared<DetokenizeOptions>();
  CLI::App* d = app.add_subcommand("detokenize", "Print the text of comma-separated token ids (exact bytes, no newline added)");
  d->add_option("--model", detok->model, "Model directory holding tokenizer.json, or a .gguf file")->required();
  d->add_option("--ids", detok->ids, "Comma-separated token ids")->required();
  d->add_flag("--skip-special-tokens", detok->skip_special, "Leave out special tokens");
  d->callback([detok] {
    const Tokenizer tokenizer = load_tokenizer(detok->model);
    const std::string text = tokenizer.decode(parse_ids(detok->ids), detok->skip_special);
    std::fwrite(text.data(), 1, text.size(), stdout);
  });
}

}  // namespace glmq::cli
