#include "runtime/importance_run.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "core/progress.h"
#include "model/importance_collector.h"
#include "runtime/session.h"

namespace glmq {

ImportanceRun run_importance_matrix(const Weights& weights, CpuBackend& backend, std::span<const std::int32_t> tokens,
                                    const ImportanceRunOptions& o) {
  if (o.context <= 0) fail(ErrorKind::InvalidArgument, "--ctx must be positive, found " + std::to_string(o.context));
  if (o.max_chunks < 0) fail(ErrorKind::InvalidArgument, "--chunks must not be negative, found " + std::to_string(o.max_chunks));
  const auto available = static_cast<std::int64_t>(tokens.size()) / o.context;
  if (available == 0)
    fail(ErrorKind::InvalidArgument, "the text has " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of " +
                                         std::to_string(o.context));
  const std::int64_t chunks = o.max_chunks > 0 ? std::min(o.max_chunks, available) : available;

  ImportanceCollector collector(weights, o.collect_covariance);
  Session session(weights, backend, o.context, KvCacheOptions{});  // float32 cache: the statistics of exact activations
  const auto t0 = std::chrono::steady_clock::now();
  Progress progress("imatrix: " + std::to_string(chunks) + " chunks of " + std::to_string(o.context) + " tokens", static_cast<std::uint64_t>(chunks));
  backend.set_matmul_observer(&collector);
  try {
    for (std::int64_t c = 0; c < chunks; ++c) {
      session.reset();
      // Logits for every token only when the LM head's covariance is wanted; the importance matrix leaves it out.
      session.prefill(tokens.subspan(static_cast<std::size_t>(c * o.context), static_cast<std::size_t>(o.context)),
                      o.collect_covariance);
      progress.advance();
    }
  } catch (...) {
    backend.set_matmul_observer(nullptr);
    throw;
  }
  backend.set_matmul_observer(nullptr);

  ImportanceRun run;
  run.matrix = collector.result();
  run.matrix.chunk_count = chunks;
  run.matrix.chunk_size = o.context;
  if (o.collect_covariance) {
    run.covariance = collector.covariance_result();
    run.covariance.chunk_count = chunks;
    run.covariance.chunk_size = o.context;
  }
  run.tokens = chunks * o.context;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  progress.finish("collected " + std::to_string(run.matrix.entries.size()) + " tensors over " + std::to_string(run.tokens) +
                  " tokens in " + std::to_string(run.seconds).substr(0, 5) + " s");
  return run;
}

}  // namespace glmq
