#pragma once
// Progress lines on stderr for long work (loading, quantizing, evaluating), ending in a summary.
#include <chrono>
#include <cstdint>
#include <string>

namespace glmq {

class Progress {
 public:
  Progress(std::string label, std::uint64_t total, bool enabled = true);
  void advance(std::uint64_t n = 1);
  // Ends the progress line with a summary such as "loaded 1234 tensors (2.1 GB) in 0.8 s".
  void finish(const std::string& summary);
  double elapsed_seconds() const;

 private:
  void draw();
  std::string label_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  bool enabled_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// Global verbosity: quiet suppresses progress and info lines (used by tests and scripts).
void set_quiet(bool quiet);
bool is_quiet();
void log_info(const std::string& line);

}  // namespace glmq
