#pragma once
// Persistent helper threads for the CPU backend's data-parallel loops.
//
// Why not an OpenMP parallel region per op: its closing barrier waits for every thread, including one the OS has
// not scheduled yet. On a busy machine (more runnable processes than cores) that wait is a whole time slice, and a
// decode step runs ~100 matrix products. Here a job is a count of chunks that threads claim one at a time from
// atomic counters; the calling thread claims chunks too and waits only for chunks a helper has actually started.
// A helper that is not running takes nothing, so a job never costs more than running it alone plus one chunk.
//
// Each thread owns an equal, contiguous range of the chunks and claims its own in order before it helps with the
// others' (from their fronts). The backend numbers chunks along the weight rows, so in a one-token product each
// thread streams one long run of consecutive rows: its prefetches ahead of the rows it is summing
// (q8_kernel_util.h) land on its own next chunk rather than on the one another thread has just claimed.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace glmq::cpu {

class WorkPool {
 public:
  // `threads` counts the calling thread; helpers (threads - 1) start on the first job that can use them.
  explicit WorkPool(int threads);
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  int threads() const { return threads_; }

  // Calls fn(chunk) once for every chunk in [0, chunks), on the calling thread and whichever helpers are running;
  // returns when all have finished. Chunks must be independent. One job at a time: not reentrant, and only one
  // thread may call run() on a pool.
  template <class F>
  void run(std::int64_t chunks, F&& fn) {
    if (chunks <= 0) return;
    if (chunks == 1 || threads_ == 1) {
      for (std::int64_t c = 0; c < chunks; ++c) fn(c);
      return;
    }
    run_erased(chunks, [](void* f, std::int64_t c) { (*static_cast<F*>(f))(c); }, &fn);
  }

 private:
  using Call = void (*)(void*, std::int64_t);
  void run_erased(std::int64_t chunks, Call call, void* ctx);
  void start_helpers();
  void helper_loop(int index);
  void wake_sleepers();
  // Claims the next chunk of job `generation` for thread `index` (0: the caller): from its own range first, then
  // from the others'; -1 when that job has no unclaimed chunk left (or is over).
  std::int64_t claim(std::uint64_t generation, int index);

  // One thread's range of the current job: generation (bits 32..63) | end of the range (16..31) | next unclaimed
  // chunk (0..15), so one compare-exchange both checks that a helper still looks at the job it woke for and claims
  // a chunk of it. A cache line each: the threads claim from their own ranges at the same time.
  struct alignas(64) Range {
    std::atomic<std::uint64_t> state{0};
  };

  int threads_;
  std::vector<std::thread> helpers_;
  std::unique_ptr<Range[]> ranges_;
  std::atomic<std::uint32_t> generation_{0};  // the latest job; helpers spin on it, then sleep on wake_
  std::atomic<std::int64_t> done_{0};         // chunks of the current job finished by helpers
  std::atomic<int> sleeping_{0};
  // Sleeping helpers wait here. (std::atomic::wait is not used: GCC 12's libstdc++ loses wake-ups with it.)
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stop_{false};
  Call call_ = nullptr;
  void* ctx_ = nullptr;
};

}  // namespace glmq::cpu
