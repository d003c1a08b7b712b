#include "backend/cuda/weight_cache.h"

#include <cuda_runtime.h>

#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "quant/ggml_iq_tables.h"

namespace glmq::cuda {

std::vector<std::uint8_t> planar_rows(WeightType type, const std::uint8_t* ggml, std::int64_t rows, std::int64_t cols) {
  const std::int64_t stride = planar_row_bytes(type, cols);
  std::vector<std::uint8_t> out(static_cast<std::size_t>(rows * stride), 0);
  if (type == WeightType::IQ2_S) {
    // GGML super-block (82 bytes): f16 d, qs[32] (4 grid-index low bytes per sub-block), signs[32] (4 per
    // sub-block), qh[8] (one per sub-block), scales[8] (one per sub-block).
    const std::int64_t blocks = cols / 256, units = 8 * blocks;
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::uint8_t* src = ggml + r * blocks * 82;
      std::uint8_t* dst = out.data() + r * stride;
      for (std::int64_t b = 0; b < blocks; ++b) {
        const std::uint8_t* block = src + b * 82;
        for (std::int64_t ib = 0; ib < 8; ++ib) {
          const std::int64_t u = 8 * b + ib;
          const std::uint8_t* qs = block + 2 + 4 * ib;
          const std::uint8_t* signs = block + 34 + 4 * ib;
          const std::uint32_t qh = block[66 + ib];
          std::uint32_t index[4], sign_word = 0;
          for (int l = 0; l < 4; ++l) index[l] = qs[l] | (((qh >> (2 * l)) & 3u) << 8);
          for (int e = 0; e < 32; ++e) sign_word |= ((signs[e / 8] >> (e % 8)) & 1u) << iq2s_sign_bit(e);
          const std::uint32_t index_word = index[0] | (index[1] << 10) | (index[2] << 20) | (index[3] << 30);
          std::memcpy(dst + 8 * u, &index_word, 4);
          std::memcpy(dst + 8 * u + 4, &sign_word, 4);
          dst[iq2s_qh_plane(units) + 2 * u] = static_cast<std::uint8_t>(index[3] >> 2);
          dst[iq2s_qh_plane(units) + 2 * u + 1] = block[74 + ib];
        }
        std::memcpy(dst + iq2s_d_plane(units) + 2 * b, block, 2);
      }
    }
    return out;
  }
  if (!planar_on_device(type)) fail(ErrorKind::DType, "no planar device layout for " + std::string(weight_type_name(type)));
  // f16 d, then the codes.
  const std::int64_t blocks = cols / 32, code = planar_code_bytes(type);
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::uint8_t* src = ggml + r * blocks * (2 + code);
    std::uint8_t* dst = out.data() + r * stride;
    for (std::int64_t b = 0; b < blocks; ++b) {
      std::memcpy(dst + b * code, src + b * (2 + code) + 2, static_cast<std::size_t>(code));
      std::memcpy(dst + f16_scaled_d_plane(blocks, code) + 2 * b, src + b * (2 + code), 2);
    }
  }
  return out;
}

WeightCache::~WeightCache() { clear(); }

void WeightCache::clear() {
  for (void* p : allocations_) cudaFree(p);
  allocations_.clear();
  matrices_.clear();
  vectors_.clear();
  tables_.clear();
  codebooks_.clear();
  bytes_ = 0;
}

void* WeightCache::upload(const void* host, std::size_t bytes) {
  if (capturing_) throw CaptureUnsupported("a weight used for the first time");
  void* p = nullptr;
  // 16 spare bytes: the kernels read 2-byte-aligned GGML blocks as aligned 32-bit words, which can reach
  // up to 2 bytes past the last block.
  check(cudaMalloc(&p, bytes + 16), ("allocating " + std::to_string(bytes) + " bytes of weights").c_str());
  allocations_.push_back(p);
  bytes_ += bytes;
  check(cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice), "uploading weights");
  // A copy from pageable memory may return before its DMA lands, and the kernels that read the weights run
  // on a non-blocking stream that does not wait for the default stream: wait here (first use only). Seen as
  // garbage results on a weight's first decode-sized product once those kernels got fast enough.
  check(cudaDeviceSynchronize(), "uploading weights (synchronise)");
  return p;
}

const DeviceWeight& WeightCache::matrix(const WeightMatrix& w) {
  if (w.empty()) fail(ErrorKind::InvalidArgument, "CUDA backend given an empty weight matrix");
  if (!is_float_type(w.type) && !is_affine(w.type) && cuda_ggml_block_bytes(w.type) == 0)
    fail(ErrorKind::DType, "the CUDA backend has no kernels for weight type " + std::string(weight_type_name(w.type)));
  auto it = matrices_.find(w.data);
  if (it != matrices_.end() && it->second.rows == w.rows && it->second.cols == w.cols && it->second.type == w.type)
    return it->second;
  DeviceWeight d;
  d.type = w.type;
  d.aux_type = w.aux_type;
  d.group_size = static_cast<std::int32_t>(w.group_size);
  d.rows = w.rows;
  d.cols = w.cols;
  d.row_bytes = static_cast<std::int64_t>(w.row_bytes());
  if (planar_on_device(w.type)) {
    const std::vector<std::uint8_t> planar = planar_rows(w.type, w.data, w.rows, w.cols);
    d.row_bytes = planar_row_bytes(w.type, w.cols);
    d.data = static_cast<const std::uint8_t*>(upload(planar.data(), planar.size()));
  } else {
    d.data = static_cast<const std::uint8_t*>(upload(w.data, static_cast<std::size_t>(w.rows) * w.row_bytes()));
  }
  d.codebook = codebook(w.type);
  if (is_affine(w.type)) {
    if (!w.scales || !w.biases || w.group_size <= 0)
      fail(ErrorKind::InvalidArgument, "affine weight without scales, biases or group size");
    // Scales and biases interleaved (device_weight.h): a group's pair is one load.
    const std::size_t row_aux = w.aux_row_bytes(), aux = static_cast<std::size_t>(w.rows) * row_aux;
    const std::size_t element = weight_row_bytes(w.aux_type, 1);
    std::vector<std::uint8_t> pairs(2 * aux);
    for (std::size_t e = 0; e < aux / element; ++e) {
      std::memcpy(pairs.data() + 2 * e * element, w.scales + e * element, element);
      std::memcpy(pairs.data() + (2 * e + 1) * element, w.biases + e * element, element);
    }
    d.aux_row_bytes = static_cast<std::int64_t>(2 * row_aux);
    d.scales = static_cast<const std::uint8_t*>(upload(pairs.data(), pairs.size()));
    d.biases = d.scales + element;
  }
  return matrices_[w.data] = d;
}

std::vector<std::uint8_t> iq2s_codebook() {
  // The int8 kernels find the level words at kIq2sLevelsOffset (q8_dot.cuh): right after the grid.
  static_assert(sizeof(ggml::kIq2sGrid) == kIq2sLevelsOffset);
  constexpr std::size_t kEntries = sizeof(ggml::kIq2sGrid) / sizeof(ggml::kIq2sGrid[0]);
  std::vector<std::uint8_t> out(kIq2sLevelsOffset + kEntries * sizeof(std::uint32_t));
  std::memcpy(out.data(), ggml::kIq2sGrid, sizeof(ggml::kIq2sGrid));
  for (std::size_t i = 0; i < kEntries; ++i) {
    std::uint32_t word = 0;
    for (int k = 0; k < 8; ++k) {
      const auto magnitude = static_cast<std::uint8_t>(ggml::kIq2sGrid[i] >> (8 * k));
      std::uint32_t level = 0;
      while (level < 3 && kIq2sMagnitudes[level] != magnitude) ++level;
      if (level == 3)
        fail(ErrorKind::DType, "IQ2_S grid entry " + std::to_string(i) + " has magnitude " + std::to_string(magnitude) +
                                       ", not one of 8, 25, 43");
      word |= level << (4 * k);
    }
    std::memcpy(out.data() + kIq2sLevelsOffset + 4 * i, &word, 4);
  }
  return out;
}

namespace {
// The int8 lookup (q8_units.cuh, iq4_levels_idot) needs IQ4_NL's levels 0-7 negative and 8-15 in [0, 126].
bool iq4nl_levels_checked() {
  for (int i = 0; i < 16; ++i)
    if (i < 8 ? ggml::kValuesIq4nl[i] >= 0 : ggml::kValuesIq4nl[i] < 0 || ggml::kValuesIq4nl[i] > 126)
      fail(ErrorKind::DType, "IQ4_NL level " + std::to_string(i) + " is " + std::to_string(ggml::kValuesIq4nl[i]) +
                                 ": the int8 kernels need levels 0-7 negative and 8-15 in [0, 126]");
  return true;
}
}  // namespace

const std::uint8_t* WeightCache::codebook(WeightType type) {
  const void* host = nullptr;
  std::size_t bytes = 0;
  if (type == WeightType::IQ2_S) {
    // The grid (the float kernels' table), then its level words (the int8 kernels'): q8_units.cuh, Iq2SQ8.
    static const std::vector<std::uint8_t> grid_and_levels = iq2s_codebook();
    host = grid_and_levels.data();
    bytes = grid_and_levels.size();
  } else if (type == WeightType::IQ2_XXS) {
    // Its sign bytes are not a table on the device: the kernels add the parity bit to the 7 stored ones.
    host = ggml::kIq2xxsGrid;
    bytes = sizeof(ggml::kIq2xxsGrid);
  } else if (type == WeightType::IQ3_S) {
    host = ggml::kIq3sGrid;
    bytes = sizeof(ggml::kIq3sGrid);
  } else if (type == WeightType::IQ4_NL || type == WeightType::IQ4_XS) {
    static const bool checked = iq4nl_levels_checked();
    (void)checked;
    host = ggml::kValuesIq4nl;
    bytes = sizeof(ggml::kValuesIq4nl);
  } else {
    return nullptr;
  }
  auto it = codebooks_.find(static_cast<int>(type));
  if (it != codebooks_.end()) return it->second;
  return codebooks_[static_cast<int>(type)] = static_cast<const std::uint8_t*>(upload(host, bytes));
}

const float* WeightCache::vector(const float* host, std::int64_t count) {
  auto it = vectors_.find(host);
  if (it != vectors_.end() && it->second.count >= count) return it->second.device;
  auto* d = static_cast<float*>(upload(host, static_cast<std::size_t>(count) * sizeof(float)));
  vectors_[host] = Vector{d, count};
  return d;
}

const DeviceSwiglu* WeightCache::swiglu_table(const SwigluWeights* blocks, std::int64_t n, DeviceSwiglu& probe) {
  std::vector<const void*> sources;
  sources.reserve(static_cast<std::size_t>(3 * n));
  for (std::int64_t e = 0; e < n; ++e)
    for (const WeightMatrix* m : {&blocks[e].gate, &blocks[e].up, &blocks[e].down}) sources.push_back(m->data);
  auto it = tables_.find(blocks);
  if (it != tables_.end() && it->second.sources == sources) {
    probe = it->second.probe;
    return it->second.device;
  }
  std::vector<DeviceSwiglu> host(static_cast<std::size_t>(n));
  auto same_shape = [](const DeviceWeight& a, const DeviceWeight& b) {
    return a.type == b.type && a.rows == b.rows && a.cols == b.cols && a.aux_type == b.aux_type &&
           a.group_size == b.group_size;
  };
  for (std::int64_t e = 0; e < n; ++e) {
    DeviceSwiglu& d = host[static_cast<std::size_t>(e)];
    d.gate = matrix(blocks[e].gate);
    d.up = matrix(blocks[e].up);
    d.down = matrix(blocks[e].down);
    if (!same_shape(d.gate, d.up) || !same_shape(d.gate, host[0].gate) || !same_shape(d.down, host[0].down))
      fail(ErrorKind::InvalidArgument, "CUDA grouped SwiGLU needs every expert's gate/up (and every down) in one type "
                                       "and shape; expert " + std::to_string(e) + " differs");
  }
  auto* d = static_cast<DeviceSwiglu*>(upload(host.data(), host.size() * sizeof(DeviceSwiglu)));
  tables_[blocks] = Table{d, n, host[0], std::move(sources)};
  probe = host[0];
  return d;
}

}  // namespace glmq::cuda
