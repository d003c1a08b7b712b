#pragma once
// Software prefetch for the decode kernels. Decoding streams each weight once from memory, and the hardware
// prefetchers alone keep too few lines in flight for one core to reach the read bandwidth (bench/cpu/README.md).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace glmq::cpu {

// Prefetches the cache lines that start in [p + ahead, p + ahead + bytes) into the cache level Hint names
// (_MM_HINT_T0: L1, _MM_HINT_T1: L2): called with consecutive ranges, each line is requested once. A prefetch never
// faults, so the range may lie past the matrix (its last rows' look-ahead); it is computed on addresses, not
// pointers, for that reason.
template <decltype(_MM_HINT_T0) Hint = _MM_HINT_T0>  // the hint's own type: an enum in GCC, an int in clang
inline void prefetch_lines(const std::uint8_t* p, std::ptrdiff_t ahead, std::size_t bytes) {
  const std::uintptr_t begin = reinterpret_cast<std::uintptr_t>(p) + static_cast<std::uintptr_t>(ahead), end = begin + bytes;
  for (std::uintptr_t line = (begin + 63) & ~std::uintptr_t{63}; line < end; line += 64)
    _mm_prefetch(reinterpret_cast<const char*>(line), Hint);
}

}  // namespace glmq::cpu
