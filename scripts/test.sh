#!/usr/bin/env bash
# Builds with warnings as errors and runs the whole suite (core, slow and interop tests), then the core tests
# again under AddressSanitizer + UBSan; first it compiles the CUDA backend where the CUDA toolkit is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
GLMQ_INTEROP="${GLMQ_INTEROP:-1}" ./scripts/install_deps.sh
jobs="$(nproc)"
# Tests run in parallel; one OpenMP thread each keeps ctest -j from oversubscribing the cores.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

# The interop tests compare against llama.cpp b11434 (its converter and tools), built once outside the repository.
peer_args=()
if [[ "${GLMQ_INTEROP:-1}" == "1" ]]; then
  peer="$(./scripts/llama_cpp_peer.sh)"
  peer_args=(-DGLMQ_LLAMA_CPP_DIR="$(sed -n 's/^SRC=//p' <<<"$peer")" -DGLMQ_LLAMA_BIN="$(sed -n 's/^BIN=//p' <<<"$peer")")
fi

# The CUDA backend is compiled first (host code with -Werror) wherever nvcc exists; its tests need a GPU, so they run
# only where one is present (the device machine) — on CI they would all skip, which is no test at all.
cuda_note="not built (no nvcc)"
if command -v nvcc >/dev/null 2>&1; then
  cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DGLMQ_CUDA=ON -DGLMQ_WERROR=ON >/dev/null
  cmake --build build-cuda -j"$jobs"
  cuda_note="compiled; no GPU, its tests not run"
  if nvidia-smi -L >/dev/null 2>&1; then
    ctest --test-dir build-cuda --output-on-failure -L cuda
    cuda_note="compiled and tested on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  fi
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DGLMQ_WERROR=ON "${peer_args[@]}" >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGLMQ_WERROR=ON -DGLMQ_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE "interop|slow"

echo "all tests passed (release and sanitizer builds; CUDA backend: $cuda_note)"
