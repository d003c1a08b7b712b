// Builds the grid i-quant maps the way iq2xs_init_impl / iq3xs_init_impl do: squared Euclidean distances between
// integer magnitude vectors, candidates ordered by (distance, index), all points within the first `nwant` distinct
// distances.
#include "quant/ggml_iq_grid_map.h"

#include <algorithm>
#include <cfloat>
#include <utility>

#include "core/error.h"
#include "quant/ggml_quant_math.h"
#include "quant/ggml_iq_tables.h"

namespace glmq::ggml {

std::uint32_t IqGridMap::code_of(const std::int8_t* L) const {
  std::uint32_t u = 0;
  for (int i = 0; i < group_size; ++i) u |= static_cast<std::uint32_t>(L[i]) << (level_bits * i);
  return u;
}

bool IqGridMap::place(float id, float scale, const float* xval, const float* weight, std::int8_t* L) const {
  for (int i = 0; i < group_size; ++i) {
    const int l = nearest_int(0.5f * (id * xval[i] - 1));
    L[i] = static_cast<std::int8_t>(l < 0 ? 0 : (l > max_level ? max_level : l));
  }
  return snap(xval, weight, scale, L);
}

void IqGridMap::levels_of(std::size_t j, std::int8_t* L) const {
  for (int i = 0; i < group_size; ++i) L[i] = static_cast<std::int8_t>((magnitude(j, i) - 1) / 2);
}

int IqGridMap::best_neighbour(std::uint32_t u, const float* xval, const float* weight, float scale,
                              std::int8_t* L) const {
  const std::uint16_t* candidates = neighbours_of(u);
  const int n = candidates[0];
  float best_d2 = FLT_MAX;
  int grid_index = -1;
  for (int j = 1; j <= n; ++j) {
    float d2 = 0;
    for (int i = 0; i < group_size; ++i) {
      const float q = static_cast<float>(magnitude(candidates[j], i));
      const float diff = scale * q - xval[i];
      d2 += weight[i] * diff * diff;
    }
    if (d2 < best_d2) {
      best_d2 = d2;
      grid_index = candidates[j];
    }
  }
  if (grid_index < 0) fail(ErrorKind::InvalidArgument, "i-quant quantizer: no finite grid candidate for a group (NaN input?)");
  levels_of(static_cast<std::size_t>(grid_index), L);
  return grid_index;
}

bool IqGridMap::snap(const float* xval, const float* weight, float scale, std::int8_t* L) const {
  const std::uint32_t u = code_of(L);
  if (map[u] >= 0) return true;
  best_neighbour(u, xval, weight, scale, L);
  return false;
}

namespace {

// `magnitudes[j]` holds grid point j's quantizer magnitudes (byte k = 2·level_k + 1). `map_size` is ggml's kmap
// size: 43692 for IQ2 (one past 0xAAAA, the largest code with all 8 levels ≤ 2), 4096 for IQ3 (all 8⁴ codes).
IqGridMap build(std::vector<std::uint64_t> magnitudes, int group_size, int level_bits, int max_level, int map_size,
                int nwant) {
  IqGridMap g;
  g.group_size = group_size;
  g.level_bits = level_bits;
  g.max_level = max_level;
  g.grid = std::move(magnitudes);
  g.map.assign(static_cast<std::size_t>(map_size), -1);
  const int grid_size = static_cast<int>(g.grid.size());
  for (int j = 0; j < grid_size; ++j) {
    std::uint32_t code = 0;
    for (int k = 0; k < group_size; ++k)
      code |= static_cast<std::uint32_t>((g.magnitude(static_cast<std::size_t>(j), k) - 1) / 2) << (level_bits * k);
    g.map[code] = j;
  }
  const int level_mask = (1 << level_bits) - 1;
  std::vector<std::pair<int, int>> dist(static_cast<std::size_t>(grid_size));  // (squared distance, index)
  for (int u = 0; u < map_size; ++u) {
    if (g.map[static_cast<std::size_t>(u)] >= 0) continue;
    // The quantizers clamp levels to 0..max_level, so IQ2 patterns with a level 3 are never looked up; ggml fills
    // them too, which only costs time.
    bool reachable = true;
    for (int k = 0; k < group_size; ++k) reachable = reachable && ((u >> (level_bits * k)) & level_mask) <= max_level;
    if (!reachable) continue;
    for (int j = 0; j < grid_size; ++j) {
      int d2 = 0;
      for (int k = 0; k < group_size; ++k) {
        const int diff = g.magnitude(static_cast<std::size_t>(j), k) - (2 * ((u >> (level_bits * k)) & level_mask) + 1);
        d2 += diff * diff;
      }
      dist[static_cast<std::size_t>(j)] = {d2, j};
    }
    std::sort(dist.begin(), dist.end());
    const auto offset = static_cast<std::int32_t>(g.neighbours.size());
    g.map[static_cast<std::size_t>(u)] = -(offset + 1);
    g.neighbours.push_back(0);
    int d2 = dist[0].first, nhave = 1, n = 0;
    for (const auto& [d, j] : dist) {
      if (d > d2) {
        if (nhave == nwant) break;
        d2 = d;
        ++nhave;
      }
      g.neighbours.push_back(static_cast<std::uint16_t>(j));
      ++n;
    }
    g.neighbours[static_cast<std::size_t>(offset)] = static_cast<std::uint16_t>(n);
  }
  return g;
}

// An IQ2 dequantization grid (bytes 8, 25, 43) as quantizer magnitudes (1, 3, 5).
std::vector<std::uint64_t> iq2_magnitudes(const std::uint64_t* dequant_grid, int grid_size) {
  std::vector<std::uint64_t> m(static_cast<std::size_t>(grid_size));
  for (int j = 0; j < grid_size; ++j) {
    for (int k = 0; k < 8; ++k) {
      const auto byte = static_cast<std::uint8_t>(dequant_grid[j] >> (8 * k));
      const std::uint64_t mag = byte == 8 ? 1 : (byte == 25 ? 3 : 5);
      m[static_cast<std::size_t>(j)] |= mag << (8 * k);
    }
  }
  return m;
}

}  // namespace

const IqGridMap& iq2_s_grid_map() {
  static const IqGridMap map = build(iq2_magnitudes(kIq2sGrid, 1024), 8, 2, 2, 43692, 1);
  return map;
}

const IqGridMap& iq2_xxs_grid_map() {
  static const IqGridMap map = build(iq2_magnitudes(kIq2xxsGrid, 256), 8, 2, 2, 43692, 2);
  return map;
}

const IqGridMap& iq3_s_grid_map() {
  // iq3s_grid already holds the quantizer magnitudes 1, 3, …, 15.
  static const IqGridMap map = build(std::vector<std::uint64_t>(kIq3sGrid, kIq3sGrid + 512), 4, 3, 7, 4096, 3);
  return map;
}

}  // namespace glmq::ggml
