#pragma once
// Grow-only device work buffers, one per named slot: after the first call of each shape nothing is
// allocated. A slot may still grow during a CUDA graph capture (a decode step's indexer scores grow with the
// context): the new buffer is allocated then, the old one freed once the capture has ended.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace glmq::cuda {

enum class Scratch : int {
  QLatent, OLatent, AttnScores, AttnPartial, IndexScores,
  SwigluHidden, SwigluGate, SwigluUp,
  MoeSlots, MoeIn, MoeOut, MoeRows, MoeWeights,
  GemmWeights, GemmInput, HeadwiseWeights,
  Q8Act0, Q8Act1, Q8Act2, Q8Act3, Q8Headwise, Q8Hidden, Q8SharedHidden,
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
  // While set, buffers replaced by larger ones are kept; clearing it frees them (cudaFree waits for the device,
  // which a capturing stream does not allow).
  void set_capturing(bool capturing);
  // How many times a buffer was replaced by a larger one (graphs captured before hold stale pointers).
  std::uint64_t reallocations() const { return reallocations_; }

 private:
  void* bytes(Scratch slot, std::size_t size);
  struct Slot {
    void* p = nullptr;
    std::size_t size = 0;
  };
  std::vector<Slot> slots_;
  bool capturing_ = false;
  std::uint64_t reallocations_ = 0;
  std::vector<void*> retired_;
};

}  // namespace glmq::cuda
