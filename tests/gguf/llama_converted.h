#pragma once
// glm-small converted by llama.cpp's convert_hf_to_gguf.py (tests/gguf/llama_convert.py), cached under the build
// folder; the `interop` tests share it. Needs -DGLMQ_LLAMA_CPP_DIR (llama.cpp b11434's source folder).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

// scripts/test.sh configures the peer (scripts/llama_cpp_peer.sh prints its folders); a build configured without it
// has nothing to compare with, so these tests skip there and fail only when a configured peer misbehaves.
#define GLMQ_SKIP_WITHOUT_LLAMA_CPP()                 \
  if (std::string(GLMQ_LLAMA_CPP_DIR).empty())        \
  GTEST_SKIP() << "configure with -DGLMQ_LLAMA_CPP_DIR=<llama.cpp source> (scripts/llama_cpp_peer.sh prints it)"

namespace glmq::test {

inline const std::string kLlamaConvertedDir = std::string(GLMQ_BINARY_DIR) + "/gguf_quant_interop";

// The path of glm-small-<outtype>.gguf, converting it on first use; "" when the converter fails (log beside it).
inline std::string llama_converted(const std::string& llama_src, const std::string& outtype) {
  std::filesystem::create_directories(kLlamaConvertedDir);
  const std::string path = kLlamaConvertedDir + "/glm-small-" + outtype + ".gguf";
  if (!std::filesystem::exists(path)) {
    // Convert under a name of this process's own: an interrupted conversion must not leave a file the next run
    // trusts, and tests running in parallel (ctest -j) may convert at the same time; the rename is atomic and
    // every conversion writes the same bytes, so whichever lands last is as good as the first.
    const std::string part = kLlamaConvertedDir + "/glm-small-" + outtype + "." + std::to_string(getpid()) + ".part.gguf";
    const std::string cmd = "python3 " + std::string(GLMQ_SOURCE_DIR) + "/tests/gguf/llama_convert.py " + llama_src + " " +
                            GLMQ_SHARED_DIR + "/models/glm-small " + part + " " + outtype + " > " + part + ".log 2>&1";
    if (std::system(cmd.c_str()) != 0) return "";
    std::filesystem::rename(part, path);
    std::filesystem::rename(part + ".log", path + ".log");
  }
  return path;
}

}  // namespace glmq::test
