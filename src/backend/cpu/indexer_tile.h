#pragma once
// The lightning indexer's scores for a tile of cache keys, vectorised over keys: the tile is stored transposed
// (key element d of key j at kt[d·kIndexerKeyTile + j]), so one query element multiplies 16 keys per instruction
// and no horizontal sums are needed — each key is widened to float32 once per tile, not once per query.
#include <cstdint>

#include "backend/kv_rows.h"

namespace glmq::cpu {

inline constexpr std::int64_t kIndexerKeyTile = 64;

// Keys [j0, j0 + nk) of `keys` (nk ≤ kIndexerKeyTile) into kt (head_dim × kIndexerKeyTile floats, columns ≥ nk
// zero); `row` is scratch of keys.width floats.
void load_key_tile(const KvRows& keys, std::int64_t j0, std::int64_t nk, float* kt, float* row);

// For queries t in [0, nq) and the tile's keys j in [0, nk): out[t·out_stride + j] =
// Σ_g w[t·heads + g]·max(scale·(q_{t,g} · k_j), 0), q rows [nq × heads × dim] contiguous.
void score_key_tile(const float* q, const float* w, std::int64_t nq, std::int64_t heads, std::int64_t dim, float scale,
                    const float* kt, std::int64_t nk, float* out, std::int64_t out_stride);

}  // namespace glmq::cpu
