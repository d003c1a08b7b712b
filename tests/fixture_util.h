#pragma once
// Shared helpers for tests that read ../shared fixtures and reference outputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "core/json_file.h"
#include "formats/safetensors.h"

namespace glmq::test {

inline std::string shared_dir() { return GLMQ_SHARED_DIR; }
inline std::string fixture_dir(const std::string& name) { return shared_dir() + "/fixtures/" + name; }

// A reference tensor from reference.safetensors, copied out as float or int32.
struct RefTensor {
  std::vector<std::int64_t> shape;
  std::vector<float> f32;
  std::vector<std::int32_t> i32;
};

inline RefTensor read_ref(const SafetensorsFile& file, const std::string& name) {
  for (const auto& t : file.tensors()) {
    if (t.name != name) continue;
    RefTensor r;
    r.shape = t.shape;
    if (t.dtype == FileDType::F32) r.f32.assign(reinterpret_cast<const float*>(t.data), reinterpret_cast<const float*>(t.data) + t.numel());
    if (t.dtype == FileDType::I32)
      r.i32.assign(reinterpret_cast<const std::int32_t*>(t.data), reinterpret_cast<const std::int32_t*>(t.data) + t.numel());
    return r;
  }
  ADD_FAILURE() << "reference tensor " << name << " missing";
  return {};
}

inline double max_abs_diff(const float* a, const float* b, std::size_t n) {
  double m = 0;
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

inline double stddev(const std::vector<float>& v) {
  double mean = 0, var = 0;
  for (float x : v) mean += x;
  mean /= static_cast<double>(v.size());
  for (float x : v) var += (x - mean) * (x - mean);
  return std::sqrt(var / static_cast<double>(v.size()));
}

}  // namespace glmq::test
