#pragma once
// The same KV cache rows on the host (for CpuBackend) and on the device (for CudaBackend): rows are stored by
// the CPU backend, then their bytes, scales and biases uploaded, so both backends attend over identical codes.
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "cuda_test_util.h"

namespace glmq::test {

inline const KvFormat kAllKvFormats[] = {KvFormat::F32, KvFormat::F16, KvFormat::Q8, KvFormat::Q4};

// `rows` of `width` values in `format` (quantized: groups of `group` values), allocated but not written.
struct HostKvRows {
  std::vector<std::uint8_t> data;
  std::vector<std::uint16_t> scales, biases;
  KvRows view;
  HostKvRows(KvFormat format, std::int64_t rows, std::int64_t width, std::int64_t group) {
    view.format = format;
    view.width = width;
    view.group_size = format == KvFormat::Q8 || format == KvFormat::Q4 ? group : 0;
    data.resize(static_cast<std::size_t>(rows) * view.row_bytes());
    view.data = data.data();
    if (view.group_size) {
      scales.resize(static_cast<std::size_t>(rows * view.groups()));
      biases.resize(scales.size());
      view.scales = scales.data();
      view.biases = biases.data();
    }
  }
};

// Device memory shaped like a HostKvRows, optionally filled with its bytes.
struct DeviceKvRows {
  DeviceArray<std::uint8_t> data;
  DeviceArray<std::uint16_t> scales, biases;
  KvRows view;
  DeviceKvRows(Backend& gpu, const HostKvRows& host)
      : data(gpu, host.data), scales(gpu, host.scales), biases(gpu, host.biases), view(host.view) {
    view.data = data.data();
    view.scales = host.view.group_size ? scales.data() : nullptr;
    view.biases = host.view.group_size ? biases.data() : nullptr;
  }
};

// Float rows stored into a cache of `format` by the CPU backend, and the same bytes on the device.
struct SharedKvRows {
  HostKvRows host;
  DeviceKvRows device;
  SharedKvRows(CpuBackend& cpu, Backend& gpu, KvFormat format, std::int64_t width, std::int64_t group,
               const std::vector<float>& values)
      : host(stored(cpu, format, width, group, values)), device(gpu, host) {}

 private:
  static HostKvRows stored(CpuBackend& cpu, KvFormat format, std::int64_t width, std::int64_t group,
                           const std::vector<float>& values) {
    const auto rows = static_cast<std::int64_t>(values.size()) / width;
    HostKvRows h(format, rows, width, group);
    cpu.store_kv_rows(h.view, 0, values.data(), width, rows);
    return h;
  }
};

}  // namespace glmq::test
