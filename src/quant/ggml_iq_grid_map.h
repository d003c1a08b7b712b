#pragma once
// The lookup structures ggml's grid i-quant quantizers search (iq2xs_init_impl / iq3xs_init_impl, quant_gguf.md
// §5.6), rebuilt from the dequantization grid: the grid as quantizer levels, a map from a group's levels to its grid
// index, and for level patterns off the grid the list of nearest grid points. IQ2 grids group 8 elements of 2-bit
// levels (magnitudes 1, 3, 5), IQ3 grids 4 elements of 3-bit levels (magnitudes 1, 3, …, 15).
#include <cstdint>
#include <vector>

namespace glmq::ggml {

struct IqGridMap {
  int group_size = 8;  // elements per grid point: 8 (IQ2) or 4 (IQ3)
  int level_bits = 2;  // bits per element's level in a pattern code: 2 (IQ2) or 3 (IQ3)
  int max_level = 2;   // levels the quantizers use: 0..2 (magnitudes 1, 3, 5) or 0..7 (1 … 15)
  // grid[j]: grid point j, byte k = the quantizer magnitude 2·level + 1 of element k.
  std::vector<std::uint64_t> grid;
  // map[u] for u = Σ level_k << (level_bits·k): the grid index, or −(offset + 1) where neighbours[offset] is the
  // number of nearest grid points and the next entries are their indices (ascending: ties in distance keep index
  // order).
  std::vector<std::int32_t> map;
  std::vector<std::uint16_t> neighbours;

  // The neighbour list (count first) of an off-grid pattern u (map[u] < 0).
  const std::uint16_t* neighbours_of(std::uint32_t u) const { return neighbours.data() - map[u] - 1; }
  int magnitude(std::size_t j, int k) const { return static_cast<int>((grid[j] >> (8 * k)) & 0xFF); }
  // The pattern code of a group's levels L[0..group_size).
  std::uint32_t code_of(const std::int8_t* L) const;
  // Writes grid point j's levels to L.
  void levels_of(std::size_t j, std::int8_t* L) const;
  // ggml's iq2_find_best_neighbour / iq3_find_best_neighbour for an off-grid pattern u: the listed neighbour
  // minimising Σ weight·(scale·g − xval)² (first minimum wins); its levels go to L. Returns its index.
  int best_neighbour(std::uint32_t u, const float* xval, const float* weight, float scale, std::int8_t* L) const;
  // Snaps a group's levels L onto the grid (to the best neighbour at `scale` when off it). Returns whether they
  // were on it already.
  bool snap(const float* xval, const float* weight, float scale, std::int8_t* L) const;
  // What every grid quantizer does with a group at a trial scale: its levels at inverse scale id (ggml: nearest odd
  // multiple, clamped to 0..max_level) to L, then snapped onto the grid at `scale`. Returns whether they were on it.
  bool place(float id, float scale, const float* xval, const float* weight, std::int8_t* L) const;
};

// Each map is built on first use, thread-safely, and kept for the process. ggml keeps all points within the first
// `nwant` distinct squared distances as neighbours: 1 for IQ2_S, 2 for IQ2_XXS, 3 for IQ3_S.
const IqGridMap& iq2_s_grid_map();    // iq2s_grid, 1024 points
const IqGridMap& iq2_xxs_grid_map();  // iq2xxs_grid, 256 points
const IqGridMap& iq3_s_grid_map();    // iq3s_grid, 512 points

}  // namespace glmq::ggml
