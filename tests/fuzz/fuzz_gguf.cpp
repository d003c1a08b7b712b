// libFuzzer target: the GGUF reader on arbitrary bytes. A parse either throws glmq::Error or yields a file whose
// every metadata value can be read through the checked accessors and whose every tensor lies inside the input —
// touched here byte by byte so AddressSanitizer sees any range the validation let through.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "formats/gguf_file.h"

namespace {

// Reads a value through every accessor; type mismatches are Config errors, anything else is a finding.
void read_all_ways(const glmq::GgufValue& v, const std::string& key) {
  auto attempt = [](auto&& read) {
    try {
      read();
    } catch (const glmq::Error&) {
    }
  };
  attempt([&] { (void)v.as_int(key); });
  attempt([&] { (void)v.as_double(key); });
  attempt([&] { (void)v.as_bool(key); });
  attempt([&] { (void)v.as_string(key); });
  attempt([&] { (void)v.as_int_array(key); });
  attempt([&] { (void)v.as_double_array(key); });
  attempt([&] { (void)v.as_bool_array(key); });
  attempt([&] { (void)v.as_string_array(key); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const glmq::GgufFile f(data, size, "fuzz.gguf");
    for (const auto& [key, value] : f.metadata()) read_all_ways(value, key);
    std::uint8_t sum = 0;
    for (const auto& t : f.tensors()) {
      (void)t.numel();
      for (std::size_t i = 0; i < t.nbytes; ++i) sum = static_cast<std::uint8_t>(sum + t.data[i]);
      if (f.find_tensor(t.name) == nullptr) __builtin_trap();  // every listed tensor can be found by name
    }
    volatile std::uint8_t keep = sum;
    (void)keep;
  } catch (const glmq::Error&) {
  }
  return 0;
}
