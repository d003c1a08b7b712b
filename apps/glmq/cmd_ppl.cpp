// glmq ppl: perplexity of a text by one of three methods (strided windows, llama-perplexity's disjoint chunks, or
// mlx_lm.perplexity's sampled sequences), optionally saving log-probabilities or measuring KL divergence against a
// saved base.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "apps/glmq/cli_common.h"
#include "apps/glmq/commands.h"
#include "apps/glmq/backend_option.h"
#include "core/error.h"
#include "core/progress.h"
#include "eval/corpus.h"
#include "eval/jsonl_file.h"
#include "eval/kl_divergence.h"
#include "eval/log_softmax.h"
#include "eval/logprob_file.h"
#include "eval/perplexity.h"
#include "eval/sampled_sequences.h"
#include "eval/strided_windows.h"
#include "runtime/session.h"

namespace glmq::cli {

namespace {
struct PplOptions {
  std::string model, data, save_logits, kld_base;
  std::string method = "strided";
  std::int64_t context = 2048, stride = 1024;
  std::int64_t chunks = 0;
  std::int64_t samples = 0, seq = 2048;
  std::uint32_t seed = 123;
  std::int64_t kld_top_k = 0;
  BackendOptions compute;
  KvCacheOptions kv{.kv_bits = 16};
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Feeds each scored row to the optional log-probability writer and KL-divergence comparison.
class RowSinks {
 public:
  RowSinks(const PplOptions& o, std::int64_t vocab) {
    if (!o.save_logits.empty()) writer_ = std::make_unique<eval::LogProbWriter>(o.save_logits, vocab, o.kld_top_k);
    if (!o.kld_base.empty()) {
      reader_ = std::make_unique<eval::LogProbReader>(o.kld_base);
      if (reader_->vocab() != vocab)
        fail(ErrorKind::InvalidArgument, o.kld_base + ": saved with a vocabulary of " +
                                             std::to_string(reader_->vocab()) + ", this model has " +
                                             std::to_string(vocab));
    }
  }
  bool active() const { return writer_ || reader_; }

  void visit(std::span<const float> logits, std::int32_t target, double nll) {
    eval::log_softmax(logits, log_probs_);
    if (writer_) writer_->write(log_probs_, target);
    if (reader_) {
      reader_->read(base_);
      if (base_.target != target)
        fail(ErrorKind::InvalidArgument, reader_->path() + ": prediction " + std::to_string(kld_.count()) +
                                             " is of token " + std::to_string(base_.target) + ", this run's is " +
                                             std::to_string(target) +
                                             " (not the same text, tokenizer, --ctx/--stride or sampling?)");
      kld_.add(eval::compare_with_base(base_, log_probs_), -base_.target_log_prob, nll);
    }
  }

  void finish() {
    if (writer_) writer_->finish();
    if (reader_) {
      if (kld_.count() != reader_->rows())
        fail(ErrorKind::InvalidArgument, reader_->path() + ": holds " + std::to_string(reader_->rows()) +
                                             " predictions, this run scored " + std::to_string(kld_.count()));
      std::printf("%s", kld_.report().c_str());
    }
  }

 private:
  std::unique_ptr<eval::LogProbWriter> writer_;
  std::unique_ptr<eval::LogProbReader> reader_;
  std::vector<double> log_probs_;
  eval::BaseDistribution base_;
  eval::KldStats kld_;
};

// Refuses options that belong to another --method, so that each way of scoring is spelled one way.
void check_method_options(const PplOptions& o, const CLI::App& cmd) {
  auto given = [&](const char* name) { return cmd.count(name) > 0; };
  auto refuse = [&](const char* name, const char* methods) {
    if (given(name))
      fail(ErrorKind::InvalidArgument, std::string(name) + " applies to --method " + methods + ", not " + o.method);
  };
  if (o.method == "strided") {
    refuse("--chunks", "llama");
    refuse("--samples", "sampled");
    refuse("--seq", "sampled");
    refuse("--seed", "sampled");
  } else if (o.method == "llama") {
    refuse("--stride", "strided");
    refuse("--samples", "sampled");
    refuse("--seq", "sampled");
    refuse("--seed", "sampled");
    if (o.chunks < 0) fail(ErrorKind::InvalidArgument, "--chunks must be positive (or 0: all)");
    if (o.context < 2) fail(ErrorKind::InvalidArgument, "--ctx must be at least 2 for --method llama");
  } else if (o.method == "sampled") {
    refuse("--ctx", "strided or llama");
    refuse("--stride", "strided");
    refuse("--chunks", "llama");
    if (!given("--samples")) fail(ErrorKind::InvalidArgument, "--method sampled needs --samples N");
  }
}

void run_ppl(const PplOptions& o) {
  auto model = load_model(o.model);
  const GlmConfig& c = model->weights.config;
  const Tokenizer tokenizer = load_tokenizer(o.model);
  const bool sampled = o.method == "sampled";

  eval::TokenRows rows;
  std::vector<std::int32_t> tokens;
  std::vector<eval::StridedWindow> windows;
  std::string method;
  if (sampled) {
    if (ends_with(o.data, ".jsonl")) {
      std::optional<std::int32_t> fallback;
      if (!c.eos_token_ids.empty()) fallback = static_cast<std::int32_t>(c.eos_token_ids.front());
      const auto docs =
          eval::tokenize_jsonl_documents(tokenizer, o.data, eval::end_of_sequence_id(tokenizer, o.model, fallback));
      rows = eval::sample_sequences(docs, o.samples, o.seq, o.seed);
      method = "sampled from " + std::to_string(docs.size()) + " documents";
    } else {
      tokens = eval::tokenize_whole(tokenizer, eval::read_text_file(o.data));
      const auto chunks = eval::split_into_rows(tokens, o.seq);
      rows = eval::sample_sequences(chunks, o.samples, o.seq, o.seed);
      method = "sampled from " + std::to_string(chunks.size()) + " consecutive rows of " +
               std::to_string(tokens.size()) + " tokens";
    }
    if (rows.empty())
      fail(ErrorKind::InvalidArgument,
           o.data + ": too little text for one sequence of " + std::to_string(o.seq) + " tokens");
    if (static_cast<std::int64_t>(rows.size()) < o.samples)
      log_info("ppl: only " + std::to_string(rows.size()) + " of the " + std::to_string(o.samples) +
               " requested sequences of " + std::to_string(o.seq) + " tokens fit the text");
    method = std::to_string(rows.size()) + " sequences of " + std::to_string(o.seq) + " tokens, seed " +
             std::to_string(o.seed) + ", " + method;
  } else {
    tokens = eval::tokenize_whole(tokenizer, eval::read_text_file(o.data));
    if (o.method == "llama") {
      // llama-perplexity's method (quant_gguf.md §8.1): disjoint chunks of ctx tokens (at most --chunks of them),
      // each scoring only the predictions of tokens ctx/2+1 … ctx−1 of the chunk; leftover tokens are ignored.
      const std::int64_t available = static_cast<std::int64_t>(tokens.size()) / o.context;
      const std::int64_t n = o.chunks > 0 ? std::min(o.chunks, available) : available;
      if (n == 0)
        fail(ErrorKind::InvalidArgument, o.data + ": " + std::to_string(tokens.size()) +
                                             " tokens, too few for one chunk of --ctx " + std::to_string(o.context));
      for (std::int64_t i = 0; i < n; ++i)
        windows.push_back({i * o.context, (i + 1) * o.context, i * o.context + o.context / 2 + 1});
      method = std::to_string(tokens.size()) + " tokens, llama-perplexity chunks of " + std::to_string(o.context) +
               ", " + std::to_string(n) + " of " + std::to_string(available) + " chunks";
    } else {
      windows = eval::plan_strided_windows(static_cast<std::int64_t>(tokens.size()), o.context, o.stride);
      method = std::to_string(tokens.size()) + " tokens, strided: ctx " + std::to_string(o.context) + ", stride " +
               std::to_string(o.stride) + ", " + std::to_string(windows.size()) + " windows";
    }
  }

  const std::int64_t context = sampled ? o.seq : o.context;
  const std::unique_ptr<Backend> compute_backend = make_backend(o.compute);
  Backend& backend = *compute_backend;
  Session session(model->weights, backend, context, o.kv);
  RowSinks sinks(o, c.vocab_size);
  eval::ScoredRowVisitor visit;
  if (sinks.active())
    visit = [&](std::span<const float> logits, std::int32_t target, double nll) { sinks.visit(logits, target, nll); };
  const eval::PerplexityRun run = sampled ? eval::sequences_perplexity(session, rows, visit)
                                          : eval::strided_perplexity(session, tokens, windows, visit);
  sinks.finish();
  std::printf("ppl %s | %s | %lld predictions | PPL %.6f ± %.6f | %lld tokens in %.1f s, %.1f tokens/s, %s\n",
              o.data.c_str(), method.c_str(), static_cast<long long>(run.nll.count()), run.nll.perplexity(),
              run.nll.perplexity_stderr(), static_cast<long long>(run.tokens_fed), run.seconds, run.tokens_per_second(),
              describe_backend(backend).c_str());
}
}  // namespace

void add_ppl_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "ppl", "Perplexity of a text: strided windows, llama-perplexity's chunks, or sampled sequences (--method)");
  auto o = std::make_shared<PplOptions>();
  cmd->add_option("--model", o->model, "Model directory (HF layout, with tokenizer.json) or .gguf file")->required();
  cmd->add_option("--data", o->data,
                  "Text file (tokenized whole); for --method sampled also jsonl with a \"text\" field per line")
      ->required();
  cmd->add_option("--method", o->method,
                  "strided (default): overlapping windows, each scoring only predictions not scored before; "
                  "llama: llama-perplexity's disjoint --ctx chunks, second half of each scored; "
                  "sampled: mlx_lm.perplexity's random sequences (--samples, --seq, --seed)")
      ->check(CLI::IsMember({"strided", "llama", "sampled"}));
  cmd->add_option("--ctx", o->context, "strided: window length; llama: chunk length (tokens, default 2048)");
  cmd->add_option("--stride", o->stride,
                  "strided: window step; each window scores only predictions not scored before (default 1024)");
  cmd->add_option("--chunks", o->chunks, "llama: score at most this many chunks, from the start (default 0: all)");
  cmd->add_option("--samples", o->samples, "sampled: number of sequences (required)");
  cmd->add_option("--seq", o->seq, "sampled: sequence length in tokens (default 2048)");
  cmd->add_option("--seed", o->seed, "sampled: numpy seed for the document order (default 123)");
  cmd->add_option("--save-logits", o->save_logits,
                  "Write every scored prediction's log-probabilities to FILE (a KLD base)");
  cmd->add_option("--kld-base", o->kld_base,
                  "Report KL divergence and top-1 agreement against FILE from --save-logits");
  cmd->add_option("--kld-top-k", o->kld_top_k,
                  "--save-logits keeps only the top K log-probabilities per prediction (default 0: all, as float16)");
  add_backend_options(cmd, o->compute);
  add_kv_cache_options(cmd, o->kv);
  cmd->callback([o, cmd] {
    check_method_options(*o, *cmd);
    run_ppl(*o);
  });
}

}  // namespace glmq::cli
