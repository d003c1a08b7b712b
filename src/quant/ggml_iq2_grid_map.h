#pragma once
// The lookup structures ggml's IQ2 quantizers search (iq2xs_init_impl, quant_gguf.md §5.6), rebuilt from the
// dequantization grid: the grid as quantizer levels, a map from a group's 8 two-bit levels to its grid index, and
// for level patterns off the grid the list of nearest grid points.
#include <cstdint>
#include <vector>

namespace glmq::ggml {

struct Iq2GridMap {
  // grid[j]: grid point j as 8 bytes, byte k = the quantizer magnitude 2·level + 1 ∈ {1, 3, 5} of element k.
  std::vector<std::uint64_t> grid;
  // map[u] for u = Σ level_k << 2k: the grid index, or −(offset + 1) where neighbours[offset] is the number of
  // nearest grid points and the next entries are their indices (ascending: ties in distance keep index order).
  std::vector<std::int32_t> map;
  std::vector<std::uint16_t> neighbours;

  // The neighbour list (count first) of an off-grid pattern u (map[u] < 0).
  const std::uint16_t* neighbours_of(std::uint32_t u) const { return neighbours.data() - map[u] - 1; }
};

// IQ2_S's map over iq2s_grid (1024 points; neighbours = all points at the smallest squared distance, ggml's
// nwant = 1). Built on first use, thread-safely, and kept for the process.
const Iq2GridMap& iq2_s_grid_map();

}  // namespace glmq::ggml
