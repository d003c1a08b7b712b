#pragma once
// BackendBuffer: an array of T in a backend's memory (host RAM for the CPU backend, device memory for a GPU
// backend). The forward pass and the caches keep all activations in these, so the same model code runs on any
// backend; only Session copies results out.
#include <cstddef>
#include <utility>

#include "backend/backend.h"

namespace glmq {

template <typename T>
class BackendBuffer {
 public:
  BackendBuffer() = default;
  BackendBuffer(Backend& backend, std::size_t count) { resize(backend, count); }
  ~BackendBuffer() { reset(); }
  BackendBuffer(const BackendBuffer&) = delete;
  BackendBuffer& operator=(const BackendBuffer&) = delete;
  BackendBuffer(BackendBuffer&& o) noexcept { *this = std::move(o); }
  BackendBuffer& operator=(BackendBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      backend_ = std::exchange(o.backend_, nullptr);
      data_ = std::exchange(o.data_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }

  // Grows to at least `count` elements (contents are not preserved); never shrinks.
  void resize(Backend& backend, std::size_t count) {
    if (count <= count_ && backend_ == &backend) return;
    reset();
    backend_ = &backend;
    data_ = static_cast<T*>(backend.alloc(count * sizeof(T)));
    count_ = count;
  }
  void reset() {
    if (data_ && backend_) backend_->release(data_);
    data_ = nullptr;
    count_ = 0;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return count_; }
  std::size_t bytes() const { return count_ * sizeof(T); }

 private:
  Backend* backend_ = nullptr;
  T* data_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace glmq
