#pragma once
// Grow-only device work buffers, one per named slot: after the first call of each shape nothing is
// allocated, so a decode step can be captured in a CUDA graph.
#include <cstddef>
#include <vector>

namespace glmq::cuda {

enum class Scratch : int {
  QLatent, OLatent, AttnScores, AttnPartial, IndexScores,
  SwigluHidden, SwigluGate, SwigluUp,
  MoeSlots, MoeIn, MoeOut, MoeRows, MoeWeights,
  GemmWeights, GemmInput, HeadwiseWeights,
  Q8Act0, Q8Act1, Q8Act2, Q8Act3, Q8Headwise, Q8Hidden,
  Count
};

class DeviceScratch {
 public:
  DeviceScratch() : slots_(static_cast<std::size_t>(Scratch::Count)) {}
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  ~DeviceScratch();

  template <typename T>
  T* get(Scratch slot, std::size_t count) {
    return static_cast<T*>(bytes(slot, count * sizeof(T)));
  }
  std::size_t total_bytes() const;

 private:
  void* bytes(Scratch slot, std::size_t size);
  struct Slot {
    void* p = nullptr;
    std::size_t size = 0;
  };
  std::vector<Slot> slots_;
};

}  // namespace glmq::cuda
