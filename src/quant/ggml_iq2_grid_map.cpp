// Builds the IQ2 quantizer maps the way iq2xs_init_impl does: squared Euclidean distances between integer
// magnitude vectors, candidates ordered by (distance, index), all points within the first `nwant` distinct distances.
#include "quant/ggml_iq2_grid_map.h"

#include <algorithm>
#include <array>
#include <utility>

#include "quant/ggml_iq_tables.h"

namespace glmq::ggml {

namespace {

constexpr int kMapSize = 43692;  // one past the largest code with all 8 levels ≤ 2 (0xAAAA), as ggml sizes it
constexpr int kMaxLevel = 2;     // IQ2 grids use levels 0..2 (magnitudes 1, 3, 5; dequant bytes 8, 25, 43)

// Dequantization byte (8, 25, 43) → quantizer magnitude (1, 3, 5).
std::uint8_t magnitude_of(std::uint8_t grid_byte) {
  return grid_byte == 8 ? 1 : (grid_byte == 25 ? 3 : 5);
}

std::array<int, 8> magnitudes_of_code(int u) {
  std::array<int, 8> m{};
  for (int k = 0; k < 8; ++k) m[static_cast<std::size_t>(k)] = 2 * ((u >> (2 * k)) & 3) + 1;
  return m;
}

Iq2GridMap build(const std::uint64_t* dequant_grid, int grid_size, int nwant) {
  Iq2GridMap g;
  g.grid.resize(static_cast<std::size_t>(grid_size));
  g.map.assign(kMapSize, -1);
  for (int j = 0; j < grid_size; ++j) {
    std::uint64_t point = 0;
    int code = 0;
    for (int k = 0; k < 8; ++k) {
      const std::uint8_t mag = magnitude_of(static_cast<std::uint8_t>(dequant_grid[j] >> (8 * k)));
      point |= static_cast<std::uint64_t>(mag) << (8 * k);
      code |= ((mag - 1) / 2) << (2 * k);
    }
    g.grid[static_cast<std::size_t>(j)] = point;
    g.map[static_cast<std::size_t>(code)] = j;
  }
  std::vector<std::pair<int, int>> dist(static_cast<std::size_t>(grid_size));  // (squared distance, index)
  for (int u = 0; u < kMapSize; ++u) {
    if (g.map[static_cast<std::size_t>(u)] >= 0) continue;
    // The quantizers clamp levels to 0..2, so patterns with a level 3 are never looked up; ggml fills them too,
    // which only costs time.
    bool reachable = true;
    for (int k = 0; k < 8; ++k) reachable = reachable && ((u >> (2 * k)) & 3) <= kMaxLevel;
    if (!reachable) continue;
    const auto pos = magnitudes_of_code(u);
    for (int j = 0; j < grid_size; ++j) {
      const std::uint64_t p = g.grid[static_cast<std::size_t>(j)];
      int d2 = 0;
      for (int k = 0; k < 8; ++k) {
        const int diff = static_cast<int>((p >> (8 * k)) & 0xFF) - pos[static_cast<std::size_t>(k)];
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

}  // namespace

const Iq2GridMap& iq2_s_grid_map() {
  static const Iq2GridMap map = build(kIq2sGrid, 1024, 1);
  return map;
}

}  // namespace glmq::ggml
