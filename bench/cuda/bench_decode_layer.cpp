// Per-layer decode and prefill time of GLM-5.2 on the CUDA backend, from synthetic layers at the real
// shapes (mixed-3.5 MLX recipe, or the IQ2_S/IQ4_NL GGUF mix). Per-layer figures are differences between a 4-layer and a 2-layer model
// (which cancels embedding, head and the per-step host work), i.e. the mean of one indexer ("full") layer
// and one "shared" layer. Achieved bandwidth counts the bytes a step must read: the layer's attention,
// indexer, router and shared-expert weights, the 8 routed experts, and the cached latents/keys it scans.
// "Session steps" time what Session::decode does per token: a step, then its logits read back, once with
// every op launched on the stream and once through the step graph (Backend::run_step: captured once, then
// replayed); their host time to issue a step is shown too. With GLMQ_TIMELINE set, the 4-layer model's step is also
// replayed with a probe after every kernel (kernel_timeline.h) and each kernel's end in the step is printed.
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernel_timeline.h"
#include "core/progress.h"
#include "model/forward.h"
#include "synthetic_glm52.h"

using namespace glmq;

namespace {

double copy_bandwidth_gbs() {
  const std::size_t bytes = std::size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  cuda::check(cudaMalloc(&a, bytes), "bench buffer");
  cuda::check(cudaMalloc(&b, bytes), "bench buffer");
  cudaMemset(a, 1, bytes);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
  cudaEventRecord(e0);
  const int reps = 20;
  for (int i = 0; i < reps; ++i) cudaMemcpy(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice);
  cudaEventRecord(e1);
  cudaEventSynchronize(e1);
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * static_cast<double>(bytes) * reps / (ms * 1e-3) / 1e9;  // read + write
}

struct Timing {
  double prefill_s = 0, decode_us = 0, graph_us = 0;
  double session_eager_us = 0, session_graph_us = 0, issue_eager_us = 0, issue_graph_us = 0;
};

// With GLMQ_PROFILE_DECODE set, one eager decode step of the model given `profile` runs between
// cudaProfilerStart/Stop, so `ncu --profile-from-start off` sees exactly one step's kernels.
Timing measure(const Weights& w, CudaBackend& be, std::int64_t context, int iters, bool prefill, bool profile = false) {
  Timing r;
  LatentKvCache cache(w.config, be, context + 8);
  Forward forward(w, be);
  std::vector<std::int32_t> tokens(static_cast<std::size_t>(context));
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::int32_t>((i * 7919) % w.config.vocab_size);
  auto now = [] { return std::chrono::steady_clock::now(); };
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  // Fills the cache (and, the first time, uploads every weight); timed on the second run when asked.
  forward.run(tokens.data(), context, cache, false);
  be.synchronize();
  if (prefill) {
    cache.clear();
    auto t0 = now();
    forward.run(tokens.data(), context, cache, false);
    be.synchronize();
    r.prefill_s = secs(t0, now());
  }
  const std::int32_t token = 11;
  be.set_step_graphs(false);  // the stream and the one-capture graph below: every op as issued
  cache.set_length(context);
  forward.run(&token, 1, cache, false);  // warm-up: decode-path weights and work buffers
  be.synchronize();
  auto t0 = now();
  for (int i = 0; i < iters; ++i) {
    cache.set_length(context);
    forward.run(&token, 1, cache, false);
  }
  be.synchronize();
  r.decode_us = secs(t0, now()) / iters * 1e6;
  cache.set_length(context);
  cuda::CudaGraph graph;
  be.begin_capture(graph);
  forward.run(&token, 1, cache, false);
  be.end_capture(graph);
  be.replay(graph);
  be.synchronize();
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  cudaEventRecord(e0, be.stream());
  for (int i = 0; i < iters; ++i) be.replay(graph);
  cudaEventRecord(e1, be.stream());
  cudaEventSynchronize(e1);
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  r.graph_us = ms * 1e3 / iters;
  std::vector<float> logits(static_cast<std::size_t>(w.config.vocab_size));
  auto session_steps = [&](bool graphs, double& step_us, double& issue_us) {
    be.set_step_graphs(graphs);
    double issue_s = 0;
    auto t_start = now();
    for (int i = -2; i < iters; ++i) {  // two steps untimed: a step graph's first capture instantiates it
      if (i == 0) {
        be.synchronize();
        issue_s = 0;
        t_start = now();
      }
      const auto step_start = now();
      cache.set_length(context);
      const float* out = forward.run(&token, 1, cache, false);
      issue_s += secs(step_start, now());
      be.download(logits.data(), out, logits.size() * sizeof(float));
    }
    step_us = secs(t_start, now()) / iters * 1e6;
    issue_us = issue_s / iters * 1e6;
  };
  session_steps(false, r.session_eager_us, r.issue_eager_us);
  session_steps(true, r.session_graph_us, r.issue_graph_us);
  be.set_step_graphs(false);
  if (profile && std::getenv("GLMQ_TIMELINE")) {
    // One step captured with a probe after every kernel (kernel_timeline.h), replayed twice; the second replay's
    // kernel ends: offset in the step, and the time since the previous kernel on the same stream ended.
    cache.set_length(context);
    cuda::CudaGraph probed;
    cuda::kernel_timeline_begin(4096);
    be.begin_capture(probed);
    forward.run(&token, 1, cache, false);
    be.end_capture(probed);
    cuda::kernel_timeline_end();
    be.replay(probed);
    be.replay(probed);
    std::vector<double> last_end;
    std::printf("timeline of one graph-replayed step (µs; stream 0 is the main stream):\n");
    for (const cuda::KernelEnd& k : cuda::kernel_timeline_read()) {
      if (static_cast<std::size_t>(k.stream) >= last_end.size()) last_end.resize(static_cast<std::size_t>(k.stream) + 1, 0.0);
      double& prev = last_end[static_cast<std::size_t>(k.stream)];
      std::printf("  end %8.1f  +%6.1f  stream %d  %s\n", k.end_us, k.end_us - prev, k.stream, k.kernel.c_str());
      prev = k.end_us;
    }
  }
  if (profile && std::getenv("GLMQ_PROFILE_DECODE")) {
    cache.set_length(context);
    cudaProfilerStart();
    forward.run(&token, 1, cache, false);
    be.synchronize();
    cudaProfilerStop();
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  set_quiet(true);
  const std::int64_t context = argc > 1 ? std::atoll(argv[1]) : 4096;
  const bool prefill = argc > 2 ? std::atoi(argv[2]) != 0 : true;
  const std::string recipe_name = argc > 3 ? argv[3] : "mixed-3.5";
  bench::SyntheticRecipe recipe;
  if (recipe_name == "iq2s-iq4nl") {
    recipe = {WeightType::IQ2_S, WeightType::IQ4_NL};
  } else if (recipe_name != "mixed-3.5") {
    std::printf("unknown recipe %s (mixed-3.5 or iq2s-iq4nl)\n", recipe_name.c_str());
    return 1;
  }
  const int iters = 50;
  if (!CudaBackend::available()) {
    std::printf("no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  const double copy_gbs = copy_bandwidth_gbs();
  std::printf("device %s, %d SMs; device-to-device copy %.0f GB/s (read + write)\n", prop.name, prop.multiProcessorCount,
              copy_gbs);

  CudaOptions options;
  options.bf16_prefill = true;
  CudaBackend be(options);
  bench::SyntheticGlm52 big(4, 1024, recipe);
  bench::SyntheticGlm52 small(2, 1024, recipe, &big);
  const Timing tb = measure(big.weights(), be, context, iters, prefill, true);
  const Timing ts = measure(small.weights(), be, context, iters, prefill);

  const GlmConfig& c = big.weights().config;
  // Layers 2 (shared) and 3 (full) are what the 4-layer model adds.
  std::size_t bytes = big.decode_weight_bytes(2) + big.decode_weight_bytes(3);
  const std::int64_t visible = context + 1;
  const std::int64_t attended = std::min<std::int64_t>(visible, c.index_topk);
  bytes += 2 * static_cast<std::size_t>(attended * (c.kv_lora_rank + c.qk_rope_head_dim)) * sizeof(float);
  bytes += static_cast<std::size_t>(visible * c.index_head_dim) * sizeof(float);
  const double layer_bytes = static_cast<double>(bytes) / 2;
  auto per_layer = [](double big_v, double small_v) { return (big_v - small_v) / 2; };
  const double graph_us = per_layer(tb.graph_us, ts.graph_us), plain_us = per_layer(tb.decode_us, ts.decode_us);
  std::printf("context %lld, recipe %s (experts %s, rest %s), per layer (mean of a full and a shared layer)\n",
              static_cast<long long>(context), recipe_name.c_str(), std::string(weight_type_name(recipe.experts)).c_str(),
              std::string(weight_type_name(recipe.rest)).c_str());
  std::printf("  bytes read per layer           %.1f MB\n", layer_bytes / 1e6);
  std::printf("  decode, CUDA graph             %.1f us  %.0f GB/s  %.0f%% of copy bandwidth\n", graph_us,
              layer_bytes / (graph_us * 1e-6) / 1e9, 100.0 * layer_bytes / (graph_us * 1e-6) / 1e9 / copy_gbs);
  std::printf("  decode, stream (no graph)      %.1f us  %.0f GB/s\n", plain_us, layer_bytes / (plain_us * 1e-6) / 1e9);
  std::printf("  78 layers at this rate         %.1f tokens/s (graph)\n", 1e6 / (78 * graph_us));
  const double session_graph_us = per_layer(tb.session_graph_us, ts.session_graph_us),
               session_eager_us = per_layer(tb.session_eager_us, ts.session_eager_us);
  std::printf("  session steps, step graph      %.1f us per layer (step and logits read back, graph replayed)\n",
              session_graph_us);
  std::printf("  session steps, stream          %.1f us per layer\n", session_eager_us);
  std::printf("  session steps, host issue time %.1f / %.1f us per layer (graph: inputs + replay / stream)\n",
              per_layer(tb.issue_graph_us, ts.issue_graph_us), per_layer(tb.issue_eager_us, ts.issue_eager_us));
  std::printf("  raw session steps: 4 layers %.1f / %.1f us, 2 layers %.1f / %.1f us (graph / stream); issue 4 layers %.1f / %.1f us\n",
              tb.session_graph_us, tb.session_eager_us, ts.session_graph_us, ts.session_eager_us, tb.issue_graph_us,
              tb.issue_eager_us);
  const StepGraphStats& g = be.step_graph_stats();
  std::printf("  step graphs: %lld replayed, %lld captured (%lld updated, %lld instantiated), %lld as issued, %lld abandoned\n",
              static_cast<long long>(g.replayed), static_cast<long long>(g.captured), static_cast<long long>(g.updated), static_cast<long long>(g.instantiated),
              static_cast<long long>(g.eager), static_cast<long long>(g.abandoned));
  std::printf("  raw step times: 4 layers %.1f / %.1f us, 2 layers %.1f / %.1f us (graph / stream)\n", tb.graph_us,
              tb.decode_us, ts.graph_us, ts.decode_us);
  if (prefill) {
    const double s = per_layer(tb.prefill_s, ts.prefill_s);
    std::printf("  prefill %lld tokens (bf16 tensor cores): %.1f ms per layer, 78 layers %.0f tokens/s\n",
                static_cast<long long>(context), s * 1e3, static_cast<double>(context) / (78 * s));
  }
  std::printf("  device weights %.1f GB\n", static_cast<double>(be.weight_bytes()) / 1e9);
  return 0;
}
