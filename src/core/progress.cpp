#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace glmq {

namespace {
bool g_quiet = false;
}

void set_quiet(bool quiet) { g_quiet = quiet; }
bool is_quiet() { return g_quiet; }

void log_info(const std::string& line) {
  if (!g_quiet) std::fprintf(stderr, "%s\n", line.c_str());
}

Progress::Progress(std::string label, std::uint64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled && !g_quiet),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::advance(std::uint64_t n) {
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  // Redraw at most 10 times a second on a terminal, every 5 s otherwise (logs stay short).
  auto period = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (now - last_draw_ >= period) {
    last_draw_ = now;
    draw();
  }
}

void Progress::draw() {
  if (!enabled_) return;
  double pct = total_ ? 100.0 * static_cast<double>(done_) / static_cast<double>(total_) : 100.0;
  std::fprintf(stderr, "%s%s: %llu/%llu (%.0f%%) %.1f s%s", tty_ ? "\r" : "", label_.c_str(),
               static_cast<unsigned long long>(done_), static_cast<unsigned long long>(total_), pct,
               elapsed_seconds(), tty_ ? "" : "\n");
}

void Progress::finish(const std::string& summary) {
  if (!enabled_) return;
  std::fprintf(stderr, "%s%s: %s\n", tty_ ? "\r\033[K" : "", label_.c_str(), summary.c_str());
}

}  // namespace glmq
