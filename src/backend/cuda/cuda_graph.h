#pragma once
// A captured decode step as an instantiated CUDA graph: CudaBackend::begin_capture / end_capture record into
// it (a later capture updates it in place), CudaBackend::replay launches it.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend/backend.h"

namespace glmq {
class CudaBackend;
}

namespace glmq::cuda {

class CudaGraph : public StepGraph {
 public:
  CudaGraph() = default;
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  ~CudaGraph() override;

 private:
  friend class glmq::CudaBackend;
  // Host memory for the uploads a capture records: the copy nodes read it at replay, so it lives as long as
  // the graph. Each capture reuses it from the start (once the last replay has finished reading it); a capture
  // that outgrows it adds a block, and the next capture starts from one block as large as all of them.
  const void* stage(const void* host, std::size_t bytes);
  void restart_staging();

  cudaGraphExec_t exec_ = nullptr;
  struct Block {
    void* p = nullptr;
    std::size_t size = 0;
  };
  std::vector<Block> blocks_;
  std::size_t staged_ = 0;  // bytes used in the last block
  // Recorded after each replay: a capture overwrites the staged inputs only after the last replay read them.
  cudaEvent_t replayed_ = nullptr;
  bool replay_pending_ = false;
  // Backend::run_step runs a step as issued until it has run once, so that every weight it uses is on the
  // device before a capture (weight uploads cannot be captured).
  bool warm_ = false;
  // What the instantiated graph was captured for: run_step's key and the backend's memory epoch.
  std::vector<std::int64_t> key_;
  std::uint64_t epoch_ = 0;
};

}  // namespace glmq::cuda
