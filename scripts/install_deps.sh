#!/usr/bin/env bash
# Installs what glmq needs to build and test on Debian/Ubuntu. Idempotent: does nothing when all is present.
set -euo pipefail

packages=(build-essential cmake pkg-config libgtest-dev libgmock-dev nlohmann-json3-dev libcli11-dev libpcre2-dev libcpp-httplib-dev
          libomp-dev python3 python3-pip curl)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

# clang and its libFuzzer runtime, only for the fuzz targets (cmake -DGLMQ_FUZZ=ON; tests/fuzz/CMakeLists.txt).
if [[ "${GLMQ_FUZZ:-0}" == "1" ]]; then
  fuzz_missing=()
  for p in clang libclang-rt-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || fuzz_missing+=("$p")
  done
  if ((${#fuzz_missing[@]})); then
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    echo "installing: ${fuzz_missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${fuzz_missing[@]}"
  fi
fi

# Python packages for the interop tests (CTest label `interop`), which regenerate reference outputs.
if [[ "${GLMQ_INTEROP:-0}" == "1" ]]; then
  python3 -m pip install -q -r "$(dirname "$0")/../tests/interop/requirements.txt"
fi
