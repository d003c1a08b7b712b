#include "backend/cpu/work_pool.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>

namespace glmq::cpu {

namespace {
// Chunk numbers fit the 16-bit fields of a range's state word.
constexpr std::uint64_t kMaxChunks = 0xffff;
// How long an idle helper spins before sleeping, adapted between these bounds (helper_loop). Ops between matrix
// products (norms, attention, routing) take microseconds to tens of microseconds; a helper that slept needs a wake-up
// (a futex call, then a time slice) for the next product. But on a machine with more runnable threads than cores,
// a spinning helper only takes time slices from the thread that would give it work.
constexpr std::chrono::nanoseconds kMaxSpin = std::chrono::microseconds(200);
constexpr std::chrono::nanoseconds kMinSpin = std::chrono::microseconds(2);
}  // namespace

WorkPool::WorkPool(int threads)
    : threads_(threads < 1 ? 1 : threads), ranges_(std::make_unique<Range[]>(static_cast<std::size_t>(threads_))) {}

WorkPool::~WorkPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  wake_sleepers();
  for (auto& t : helpers_) t.join();
}

void WorkPool::wake_sleepers() {
  { std::lock_guard<std::mutex> lock(sleep_mutex_); }
  wake_.notify_all();
}

void WorkPool::start_helpers() {
  for (int i = 1; i < threads_; ++i) helpers_.emplace_back([this, i] { helper_loop(i); });
}

std::int64_t WorkPool::claim(std::uint64_t generation, int index) {
  for (int k = 0; k < threads_; ++k) {
    std::atomic<std::uint64_t>& state = ranges_[static_cast<std::size_t>((index + k) % threads_)].state;
    std::uint64_t s = state.load(std::memory_order_acquire);
    for (;;) {
      if ((s >> 32) != generation) return -1;
      const std::uint64_t end = (s >> 16) & kMaxChunks, next = s & kMaxChunks;
      if (next >= end) break;
      if (state.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire))
        return static_cast<std::int64_t>(next);
    }
  }
  return -1;
}

void WorkPool::helper_loop(int index) {
  using clock = std::chrono::steady_clock;
  std::uint32_t seen = generation_.load(std::memory_order_acquire);
  auto spin_limit = kMaxSpin;
  for (;;) {
    const auto spin_start = clock::now();
    std::uint32_t g;
    bool slept = false;
    int spins = 0;
    // stop_ is checked too: a helper can start only after the pool is already being destroyed.
    while ((g = generation_.load(std::memory_order_acquire)) == seen && !stop_.load()) {
      _mm_pause();
      if (++spins % 16 != 0 || clock::now() - spin_start < spin_limit) continue;
      // sleeping_ is raised before generation_ is read again under the lock, and a publisher reads sleeping_ after
      // storing generation_ (both sequentially consistent), so either this check sees the new job or the publisher
      // sees a sleeper and notifies under the lock.
      std::unique_lock<std::mutex> lock(sleep_mutex_);
      sleeping_.fetch_add(1);
      wake_.wait(lock, [&] { return generation_.load() != seen || stop_.load(); });
      sleeping_.fetch_sub(1);
      slept = true;
    }
    if (stop_.load()) return;
    // A job that came while spinning says the caller is issuing jobs back to back: spin as long next time. One that
    // needed a wake-up says the caller was busy elsewhere, or not running at all (other processes hold the cores):
    // spin less, so this thread does not take a core's time slice from the caller or anyone else.
    spin_limit = slept ? std::max(kMinSpin, spin_limit / 2) : std::min(kMaxSpin, spin_limit * 2);
    seen = g;
    for (std::int64_t c; (c = claim(g, index)) >= 0;) {
      call_(ctx_, c);
      done_.fetch_add(1, std::memory_order_release);
    }
  }
}

void WorkPool::run_erased(std::int64_t chunks, Call call, void* ctx) {
  if (helpers_.empty()) start_helpers();
  // More chunks than the state word counts: hand them out in equal groups instead.
  if (static_cast<std::uint64_t>(chunks) > kMaxChunks) {
    struct Grouped {
      Call call;
      void* ctx;
      std::int64_t chunks, per;
    } grouped{call, ctx, chunks, (chunks + static_cast<std::int64_t>(kMaxChunks) - 1) / static_cast<std::int64_t>(kMaxChunks)};
    run_erased(
        (chunks + grouped.per - 1) / grouped.per,
        [](void* p, std::int64_t group) {
          auto* gr = static_cast<Grouped*>(p);
          for (std::int64_t c = group * gr->per; c < std::min(gr->chunks, (group + 1) * gr->per); ++c) gr->call(gr->ctx, c);
        },
        &grouped);
    return;
  }
  call_ = call;
  ctx_ = ctx;
  done_.store(0, std::memory_order_relaxed);
  const std::uint32_t g = generation_.load(std::memory_order_relaxed) + 1;
  // Thread i's range: chunks [chunks·i / threads, chunks·(i + 1) / threads). The release in these stores publishes
  // call_, ctx_ and done_ to whichever helper claims a chunk.
  for (int i = 0; i < threads_; ++i) {
    const auto begin = static_cast<std::uint64_t>(chunks * i / threads_), end = static_cast<std::uint64_t>(chunks * (i + 1) / threads_);
    ranges_[static_cast<std::size_t>(i)].state.store((static_cast<std::uint64_t>(g) << 32) | (end << 16) | begin,
                                                      std::memory_order_release);
  }
  generation_.store(g);
  if (sleeping_.load() > 0) wake_sleepers();
  std::int64_t mine = 0;
  for (std::int64_t c; (c = claim(g, 0)) >= 0; ++mine) call(ctx, c);
  // Every chunk is claimed; wait only for those a helper is still running.
  for (int spins = 0; done_.load(std::memory_order_acquire) + mine < chunks;) {
    _mm_pause();
    // A helper preempted mid-chunk may share this core: give it the core instead of spinning out a time slice.
    if (++spins % 256 == 0) std::this_thread::yield();
  }
}

}  // namespace glmq::cpu
