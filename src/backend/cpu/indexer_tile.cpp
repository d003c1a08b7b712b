#include "backend/cpu/indexer_tile.h"

#include <algorithm>
#include <cstring>

#include "backend/cpu/kv_rows_cpu.h"

namespace glmq::cpu {

namespace {

constexpr int kLanes = 16;
constexpr int kVecs = static_cast<int>(kIndexerKeyTile) / kLanes;
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

inline Vec load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

void load_key_tile(const KvRows& keys, std::int64_t j0, std::int64_t nk, float* kt, float* row) {
  const std::int64_t dim = keys.width;
  if (nk < kIndexerKeyTile) std::fill(kt, kt + dim * kIndexerKeyTile, 0.0f);
  for (std::int64_t j = 0; j < nk; ++j) {
    const float* k = kv_row(keys, j0 + j, row);
    for (std::int64_t d = 0; d < dim; ++d) kt[d * kIndexerKeyTile + j] = k[d];
  }
}

void score_key_tile(const float* q, const float* w, std::int64_t nq, std::int64_t heads, std::int64_t dim, float scale,
                    const float* kt, std::int64_t nk, float* out, std::int64_t out_stride) {
  const Vec zero = {};
  for (std::int64_t t = 0; t < nq; ++t) {
    Vec s[kVecs] = {};
    for (std::int64_t g = 0; g < heads; ++g) {
      const float* qg = q + (t * heads + g) * dim;
      Vec acc[kVecs] = {};
      for (std::int64_t d = 0; d < dim; ++d) {
        const Vec qd = zero + qg[d];
        const float* krow = kt + d * kIndexerKeyTile;
        for (int v = 0; v < kVecs; ++v) acc[v] += qd * load(krow + v * kLanes);
      }
      const float wg = w[t * heads + g];
      for (int v = 0; v < kVecs; ++v) {
        const Vec d = acc[v] * scale;
        s[v] += wg * (d > zero ? d : zero);
      }
    }
    float tile[kIndexerKeyTile];
    std::memcpy(tile, s, sizeof tile);
    std::copy(tile, tile + nk, out + t * out_stride);
  }
}

}  // namespace glmq::cpu
