#pragma once
// Reading and writing cache rows (KvRows) on the CPU: float32 rows are used in place, others are decoded
// into a caller's buffer one row at a time — the cache is never expanded as a whole.
#include <cstdint>

#include "backend/kv_rows.h"

namespace glmq::cpu {

// Row r as floats: a pointer into the cache for F32, else `scratch` (width floats) filled with the decoded row.
const float* kv_row(const KvRows& rows, std::int64_t r, float* scratch);
// Quantizes or converts one row of floats into row r.
void store_kv_row(const KvRows& rows, std::int64_t r, const float* values);

}  // namespace glmq::cpu
