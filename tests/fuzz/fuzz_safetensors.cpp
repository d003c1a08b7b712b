// libFuzzer target: the safetensors reader on arbitrary bytes. SafetensorsFile maps a path, so each input goes to
// a per-process file in /dev/shm (memory-backed) first. A parse either throws glmq::Error or yields tensors whose
// bytes lie inside the file — touched here byte by byte so AddressSanitizer sees any range validation let through.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "formats/safetensors.h"

namespace {

// The per-process input file, removed when the fuzzer exits.
struct InputFile {
  std::string path = "/dev/shm/glmq-fuzz-safetensors-" + std::to_string(::getpid()) + ".safetensors";
  ~InputFile() { std::remove(path.c_str()); }
};

const std::string& input_path() {
  static const InputFile file;
  return file.path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = input_path();
  if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
    const bool written = std::fwrite(data, 1, size, f) == size;
    std::fclose(f);
    if (!written) return 0;
  } else {
    return 0;
  }
  try {
    const glmq::SafetensorsFile file(path);
    std::uint8_t sum = 0;
    for (const auto& t : file.tensors()) {
      const auto* p = static_cast<const std::uint8_t*>(t.data);
      for (std::size_t i = 0; i < t.nbytes; ++i) sum = static_cast<std::uint8_t>(sum + p[i]);
    }
    volatile std::uint8_t keep = sum;
    (void)keep;
  } catch (const glmq::Error&) {
  }
  return 0;
}
