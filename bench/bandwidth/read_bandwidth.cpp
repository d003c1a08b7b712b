// bench_read_bandwidth: how fast can this machine read memory? A STREAM-like read-only sum over a buffer, with
// 1..N threads, for the bandwidth roofline of decode (bench/bandwidth.md).
//
//   bench_read_bandwidth [--threads 1,2] [--sizes-mib 16,48,2048] [--reps 15]
//
// For each buffer size and thread count: the buffer is allocated and written once (pages touched by the thread
// that later reads them), then each repetition has every thread sum its contiguous slice as 64-bit integers
// (vectorised loads, no stores). Prints the best and the median GB/s (10^9 bytes/s) of the repetitions.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::vector<long> parse_list(const char* s) {
  std::vector<long> v;
  std::string text(s);
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const long x = std::strtol(text.substr(start, end - start).c_str(), nullptr, 10);
    if (x <= 0) {
      std::fprintf(stderr, "bad list item in '%s'\n", s);
      std::exit(2);
    }
    v.push_back(x);
    start = end + 1;
  }
  return v;
}

// Sum of a slice; 8 independent accumulators so the loop is load-bound, not add-latency-bound.
__attribute__((noinline)) std::uint64_t sum_slice(const std::uint64_t* p, std::size_t n) {
  std::uint64_t a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) a[k] += p[i + k];
  for (; i < n; ++i) a[0] += p[i];
  std::uint64_t s = 0;
  for (int k = 0; k < 8; ++k) s += a[k];
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<long> threads = {1, 2}, sizes = {16, 48, 2048};
  long reps = 15;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = parse_list(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--sizes-mib")) sizes = parse_list(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps")) reps = parse_list(argv[i + 1]).front();
    else {
      std::fprintf(stderr, "usage: %s [--threads 1,2] [--sizes-mib 16,48,2048] [--reps 15]\n", argv[0]);
      return 2;
    }
  }
  std::printf("| buffer (MiB) | threads | best GB/s | median GB/s | repetitions |\n|---|---|---|---|---|\n");
  volatile std::uint64_t sink = 0;
  for (long mib : sizes) {
    const std::size_t words = static_cast<std::size_t>(mib) * 1024 * 1024 / 8;
    auto* buf = static_cast<std::uint64_t*>(std::aligned_alloc(64, words * 8));
    if (!buf) {
      std::fprintf(stderr, "cannot allocate %ld MiB\n", mib);
      return 1;
    }
    for (long t : threads) {
      const int nt = static_cast<int>(t);
#pragma omp parallel num_threads(nt)
      {  // first touch by the thread that reads the slice
        const std::size_t per = words / static_cast<std::size_t>(omp_get_num_threads());
        const std::size_t b = per * static_cast<std::size_t>(omp_get_thread_num());
        const std::size_t e = omp_get_thread_num() == omp_get_num_threads() - 1 ? words : b + per;
        for (std::size_t i = b; i < e; ++i) buf[i] = i * 0x9E3779B97F4A7C15ull;
      }
      std::vector<double> gbs;
      for (long r = 0; r < reps + 1; ++r) {  // the first repetition warms up and is not counted
        std::uint64_t total = 0;
        const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(nt) reduction(+ : total)
        {
          const std::size_t per = words / static_cast<std::size_t>(omp_get_num_threads());
          const std::size_t b = per * static_cast<std::size_t>(omp_get_thread_num());
          const std::size_t e = omp_get_thread_num() == omp_get_num_threads() - 1 ? words : b + per;
          total += sum_slice(buf + b, e - b);
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        sink = sink + total;
        if (r > 0) gbs.push_back(static_cast<double>(words) * 8 / s / 1e9);
      }
      std::sort(gbs.begin(), gbs.end());
      std::printf("| %ld | %d | %.1f | %.1f | %ld |\n", mib, nt, gbs.back(), gbs[gbs.size() / 2], reps);
      std::fflush(stdout);
    }
    std::free(buf);
  }
  return sink == 42 ? 1 : 0;
}
