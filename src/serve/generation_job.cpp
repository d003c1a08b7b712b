#include "serve/generation_job.h"

namespace glmq::serve {

GenerationJob::Update GenerationJob::take(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  ready_.wait_for(lock, timeout, [&] { return !pending_.empty() || finish_ != FinishReason::Running; });
  Update u;
  u.tokens = std::exchange(pending_, {});
  u.finish = finish_;
  u.error = error_;
  return u;
}

void GenerationJob::deliver(GeneratedToken token) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(std::move(token));
  }
  ready_.notify_all();
}

void GenerationJob::finish(FinishReason reason, std::string error) {
  {
    std::lock_guard lock(mutex_);
    if (finish_ != FinishReason::Running) return;
    finish_ = reason;
    error_ = std::move(error);
  }
  ready_.notify_all();
}

}  // namespace glmq::serve
