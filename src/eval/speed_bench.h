#pragma once
// Speed of one Session: prompt processing (prefill) and generation (decode) tokens/s, time to first token,
// and the process's peak resident memory.
#include <cstdint>
#include <string>

#include "runtime/session.h"

namespace glmq::eval {

struct SpeedResult {
  std::int64_t prompt_tokens = 0, generated_tokens = 0;
  double prefill_seconds = 0;      // the whole prompt, all layers, logits of the last position
  double first_token_seconds = 0;  // prefill plus choosing the first token: time to first token
  double decode_seconds = 0;       // the generated tokens after the first
  double prompt_tokens_per_second() const;
  double generation_tokens_per_second() const;
};

// Prefills `prompt_tokens` pseudo-random ids (fixed seed, so runs are comparable) on a fresh cache, then
// greedily decodes `generate` tokens (end-of-sequence ids do not stop it). Needs prompt + generate <= context.
SpeedResult measure_speed(Session& session, std::int64_t vocab, std::int64_t prompt_tokens, std::int64_t generate);

// Peak resident set size of this process so far (getrusage's ru_maxrss), in bytes.
std::int64_t peak_rss_bytes();
// Resident set size of this process now (/proc/self/statm), in bytes; 0 where that file cannot be read.
std::int64_t current_rss_bytes();

}  // namespace glmq::eval
