// glmq logits: raw float32 logits of every position, by prefill or token-by-token decode.
#include <cstdio>
#include <fstream>

#include "apps/glmq/cli_common.h"
#include "apps/glmq/commands.h"
#include "apps/glmq/backend_option.h"
#include "core/error.h"
#include "runtime/session.h"

namespace glmq::cli {

namespace {
struct LogitsOptions {
  std::string model, tokens, out;
  bool decode = false;
  BackendOptions compute;
  KvCacheOptions kv;  // float32 by default: this command is for exact comparisons
};

void run_logits(const LogitsOptions& o) {
  auto tokens = parse_token_list(o.tokens, "--tokens");
  auto model = load_model(o.model);
  const GlmConfig& c = model->weights.config;
  for (auto id : tokens)
    if (id >= c.vocab_size)
      fail(ErrorKind::InvalidArgument, "--tokens: id " + std::to_string(id) + " outside the vocabulary of " + std::to_string(c.vocab_size));
  const std::unique_ptr<Backend> compute_backend = make_backend(o.compute);
  Backend& backend = *compute_backend;
  Session session(model->weights, backend, static_cast<std::int64_t>(tokens.size()), o.kv);
  std::ofstream out(o.out, std::ios::binary | std::ios::trunc);
  if (!out) fail(ErrorKind::Io, o.out + ": cannot create");
  auto write = [&](std::span<const float> v) {
    out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  };
  if (o.decode) {
    write(session.prefill(std::span(tokens).first(1)));
    for (std::size_t i = 1; i < tokens.size(); ++i) write(session.decode(tokens[i]));
  } else {
    write(session.prefill(tokens, true));
  }
  if (!out) fail(ErrorKind::Io, o.out + ": write failed");
  std::fprintf(stderr, "wrote %zu × %lld float32 logits to %s\n", tokens.size(), static_cast<long long>(c.vocab_size),
               o.out.c_str());
}
}  // namespace

void add_logits_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("logits", "Write the logits of every position as raw little-endian float32 [T × vocab]");
  auto o = std::make_shared<LogitsOptions>();
  cmd->add_option("--model", o->model, "Model directory (HF layout) or .gguf file")->required();
  cmd->add_option("--tokens", o->tokens, "Comma-separated token ids")->required();
  cmd->add_option("--out", o->out, "Output file")->required();
  cmd->add_flag("--decode", o->decode, "Prefill the first token, then feed the rest one at a time through the cache");
  add_backend_options(cmd, o->compute);
  add_kv_cache_options(cmd, o->kv);
  cmd->callback([o] { run_logits(*o); });
}

}  // namespace glmq::cli
