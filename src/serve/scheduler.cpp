#include "serve/scheduler.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "core/error.h"
#include "serve/api_error.h"

namespace glmq::serve {

Scheduler::Scheduler(const Weights& weights, Backend& backend, std::vector<std::int32_t> stop_ids,
                     const SchedulerOptions& options, ServerMetrics& metrics)
    : weights_(weights),
      options_(options),
      stop_ids_(std::move(stop_ids)),
      metrics_(metrics),
      batch_(weights, backend, options.parallel, options.context, options.kv) {
  if (options.max_queue < 0) fail(ErrorKind::InvalidArgument, "the queue length must not be negative");
  if (options.prefill_budget <= 0) fail(ErrorKind::InvalidArgument, "the prompt budget per step must be positive");
  publish_load();
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::shared_ptr<GenerationJob> Scheduler::submit(GenerationInput input) {
  auto job = std::make_shared<GenerationJob>(std::move(input));
  {
    std::lock_guard lock(mutex_);
    // Requests that will get a free slot at the next step do not count against the queue.
    const auto room = static_cast<std::size_t>(options_.max_queue + options_.parallel - active_count_);
    if (waiting_.size() >= room)
      throw ApiError(503, "server_error",
                     "the server is busy: all " + std::to_string(options_.parallel) + " slots are in use and " +
                         std::to_string(waiting_.size()) + " requests are waiting; retry later",
                     "", "server_overloaded");
    waiting_.push_back(job);
    metrics_.set_load(active_count_, static_cast<int>(waiting_.size()), options_.parallel);
  }
  wake_.notify_all();
  return job;
}

bool Scheduler::is_stop(std::int32_t id) const { return std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end(); }

void Scheduler::publish_load() {
  std::lock_guard lock(mutex_);
  active_count_ = static_cast<int>(active_.size());
  metrics_.set_load(active_count_, static_cast<int>(waiting_.size()), options_.parallel);
}

void Scheduler::run() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !waiting_.empty() || !active_.empty(); });
      if (stopping_) break;
    }
    admit_waiting();
    drop_cancelled();
    publish_load();
    if (!active_.empty()) step_once();
    publish_load();
  }
  for (std::size_t i = active_.size(); i-- > 0;) finish(i, FinishReason::Cancelled);
  std::lock_guard lock(mutex_);
  for (auto& job : waiting_) job->finish(FinishReason::Cancelled);
  waiting_.clear();
}

void Scheduler::admit_waiting() {
  std::lock_guard lock(mutex_);
  while (!waiting_.empty() && static_cast<int>(active_.size()) < options_.parallel) {
    auto job = std::move(waiting_.front());
    waiting_.pop_front();
    if (job->cancelled()) {
      job->finish(FinishReason::Cancelled);
      continue;
    }
    Active a;
    try {
      // The first use of a slot allocates its cache, which can fail; that request fails, the server goes on.
      a.slot = batch_.acquire();
      a.sampler = std::make_unique<Sampler>(job->input().sampling);
    } catch (const std::exception& e) {
      if (a.slot >= 0) batch_.release(a.slot);
      job->finish(FinishReason::Error, e.what());
      continue;
    }
    metrics_.add_prompt_tokens(static_cast<std::int64_t>(job->input().prompt.size()));
    a.job = std::move(job);
    active_.push_back(std::move(a));
  }
}

void Scheduler::drop_cancelled() {
  for (std::size_t i = active_.size(); i-- > 0;)
    if (active_[i].job->cancelled()) finish(i, FinishReason::Cancelled);
}

void Scheduler::finish(std::size_t index, FinishReason reason, const std::string& error) {
  std::shared_ptr<GenerationJob> job = std::move(active_[index].job);
  batch_.release(active_[index].slot);
  active_.erase(active_.begin() + static_cast<std::ptrdiff_t>(index));
  // The load is published before the client hears of the end, so what it sees next is consistent.
  publish_load();
  job->finish(reason, error);
}

void Scheduler::step_once() {
  std::vector<SequenceBatch::Step> steps;
  std::vector<std::size_t> owners;     // active_ index of each step
  std::vector<bool> samples;           // whether the step ends at a point where a token is drawn
  std::int64_t budget = options_.prefill_budget, prompt_tokens = 0;
  // Decoding requests first: each costs one token and must never wait behind prompts.
  for (std::size_t i = 0; i < active_.size(); ++i) {
    Active& a = active_[i];
    if (a.prompt_done < static_cast<std::int64_t>(a.job->input().prompt.size())) continue;
    steps.push_back({a.slot, std::span<const std::int32_t>(&a.last_token, 1), false});
    owners.push_back(i);
    samples.push_back(true);
  }
  for (std::size_t i = 0; i < active_.size() && budget > 0; ++i) {
    Active& a = active_[i];
    const auto& prompt = a.job->input().prompt;
    const auto left = static_cast<std::int64_t>(prompt.size()) - a.prompt_done;
    if (left <= 0) continue;
    const std::int64_t n = std::min(left, budget);
    steps.push_back({a.slot, std::span(prompt).subspan(static_cast<std::size_t>(a.prompt_done), static_cast<std::size_t>(n)), false});
    owners.push_back(i);
    samples.push_back(n == left);
    budget -= n;
    prompt_tokens += n;
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::span<const float>> logits;
  try {
    logits = batch_.step(steps);
  } catch (const std::exception& e) {
    // A failed pass leaves these sequences' caches in an unknown state: end them, keep serving others.
    std::vector<std::size_t> failed = owners;
    std::sort(failed.rbegin(), failed.rend());
    for (auto i : failed) finish(i, FinishReason::Error, e.what());
    return;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<std::size_t> done;
  for (std::size_t k = 0; k < steps.size(); ++k) {
    Active& a = active_[owners[k]];
    if (a.prompt_done < static_cast<std::int64_t>(a.job->input().prompt.size()))
      a.prompt_done += static_cast<std::int64_t>(steps[k].tokens.size());
    if (!samples[k]) continue;
    try {
      sample_next(a, logits[k]);
    } catch (const std::exception& e) {
      a.job->finish(FinishReason::Error, e.what());
      done.push_back(owners[k]);
      continue;
    }
    const auto& in = a.job->input();
    const bool stop = !in.ignore_eos && is_stop(a.last_token);
    if (stop || static_cast<std::int64_t>(a.generated.size()) >= in.max_tokens || batch_.position(a.slot) >= options_.context)
      done.push_back(owners[k]);
  }
  metrics_.record_step(prompt_tokens, static_cast<std::int64_t>(std::count(samples.begin(), samples.end(), true)), seconds);
  std::sort(done.rbegin(), done.rend());
  for (auto i : done) {
    const bool stop = !active_[i].job->input().ignore_eos && is_stop(active_[i].last_token);
    finish(i, stop ? FinishReason::Stop : FinishReason::Length);
  }
}

void Scheduler::sample_next(Active& a, std::span<const float> logits) {
  const auto& in = a.job->input();
  const bool restricted = a.generated.empty() && !in.first_token_choices.empty();
  if (!in.logit_bias.empty() || restricted || in.json_object) {
    a.biased.assign(logits.begin(), logits.end());
    for (const auto& [id, bias] : in.logit_bias) a.biased[static_cast<std::size_t>(id)] += bias;
    if (restricted) {
      std::vector<float> kept(in.first_token_choices.size());
      for (std::size_t i = 0; i < kept.size(); ++i) kept[i] = a.biased[static_cast<std::size_t>(in.first_token_choices[i])];
      std::fill(a.biased.begin(), a.biased.end(), -std::numeric_limits<float>::infinity());
      for (std::size_t i = 0; i < kept.size(); ++i) a.biased[static_cast<std::size_t>(in.first_token_choices[i])] = kept[i];
    }
    if (in.json_object) in.json_object->restrict(a.biased);
    logits = a.biased;
  }
  GeneratedToken t;
  t.id = a.sampler->sample(logits, a.generated);
  t.is_stop = !in.ignore_eos && is_stop(t.id);
  if (in.json_object) in.json_object->accept(t.id);
  if (in.logprobs) {
    const auto& lp = a.sampler->last_log_probs();
    t.logprob = lp[static_cast<std::size_t>(t.id)];
    if (in.top_logprobs > 0) {
      std::vector<std::int32_t> ids(lp.size());
      for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>(i);
      const auto k = std::min<std::size_t>(static_cast<std::size_t>(in.top_logprobs), ids.size());
      std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(), [&](std::int32_t x, std::int32_t y) {
        const float px = lp[static_cast<std::size_t>(x)], py = lp[static_cast<std::size_t>(y)];
        return px > py || (px == py && x < y);
      });
      for (std::size_t i = 0; i < k; ++i) t.top.emplace_back(ids[i], lp[static_cast<std::size_t>(ids[i])]);
    }
  }
  a.generated.push_back(t.id);
  a.last_token = t.id;
  a.job->deliver(std::move(t));
}

}  // namespace glmq::serve
