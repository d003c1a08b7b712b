#!/usr/bin/env bash
# Installs dependencies and builds glmq (Release) into build/; the CLI ends up at build/glmq.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
