#!/usr/bin/env bash
# Builds with warnings as errors and runs the whole suite, then again under AddressSanitizer + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
GLMQ_INTEROP="${GLMQ_INTEROP:-1}" ./scripts/install_deps.sh
jobs="$(nproc)"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DGLMQ_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGLMQ_WERROR=ON -DGLMQ_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE interop
echo "all tests passed (release and sanitizer builds)"
