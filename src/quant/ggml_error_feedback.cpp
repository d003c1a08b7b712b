#include "quant/ggml_error_feedback.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "quant/ggml_block_decode.h"
#include "quant/ggml_dequantize.h"
#include "quant/ggml_iq_tables.h"
#include "quant/ggml_quant_math.h"
#include "quant/ggml_quantizers.h"
#include "quant/ggml_quantize.h"

namespace glmq {

namespace {

// In-place lower Cholesky factor of the symmetric n × n matrix `a` (row-major; the upper triangle is zeroed).
// Returns false at the first pivot that is not positive.
bool cholesky_lower(std::vector<double>& a, std::int64_t n) {
  for (std::int64_t j = 0; j < n; ++j) {
    double* rj = a.data() + j * n;
    double d = rj[j];
    for (std::int64_t k = 0; k < j; ++k) d -= rj[k] * rj[k];
    if (!(d > 0.0)) return false;
    const double l = std::sqrt(d);
    rj[j] = l;
    for (std::int64_t i = j + 1; i < n; ++i) {
      double* ri = a.data() + i * n;
      double s = ri[j];
      for (std::int64_t k = 0; k < j; ++k) s -= ri[k] * rj[k];
      ri[j] = s / l;
    }
    for (std::int64_t k = j + 1; k < n; ++k) rj[k] = 0.0;
  }
  return true;
}

// L⁻¹ of a lower triangular n × n matrix (row-major), by forward substitution column by column.
std::vector<double> invert_lower(const std::vector<double>& l, std::int64_t n) {
  std::vector<double> inv(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t c = 0; c < n; ++c) {
    inv[static_cast<std::size_t>(c * n + c)] = 1.0 / l[static_cast<std::size_t>(c * n + c)];
    for (std::int64_t i = c + 1; i < n; ++i) {
      double s = 0.0;
      for (std::int64_t k = c; k < i; ++k) s += l[static_cast<std::size_t>(i * n + k)] * inv[static_cast<std::size_t>(k * n + c)];
      inv[static_cast<std::size_t>(i * n + c)] = -s / l[static_cast<std::size_t>(i * n + i)];
    }
  }
  return inv;
}

// Nearest code in [lo, hi] to x/step (step of either sign), or `keep` when the step is zero (nothing to choose).
int nearest_code(double x, double step, int lo, int hi, int keep) {
  if (step == 0.0 || !std::isfinite(step)) return keep;
  const double c = std::nearbyint(x / step);
  return static_cast<int>(std::clamp(c, static_cast<double>(lo), static_cast<double>(hi)));
}

// Nearest IQ4 level index to x/step.
int nearest_iq4(double x, double step, int keep) {
  if (step == 0.0 || !std::isfinite(step)) return keep;
  int best = keep;
  double best_err = INFINITY;
  for (int k = 0; k < 16; ++k) {
    const double err = std::fabs(step * ggml::kValuesIq4nl[k] - x);
    if (err < best_err) {
      best_err = err;
      best = k;
    }
  }
  return best;
}

void set_nibble(std::uint8_t& byte, bool high, int v) {
  byte = static_cast<std::uint8_t>(high ? (byte & 0x0F) | (v << 4) : (byte & 0xF0) | v);
}

// Re-chooses element j's code of a block whose scales the block quantizer has fixed: the representable value
// nearest to x (for one scalar the nearest is the best under any weighting). Layouts as ggml_block_decode.h.
void requantize_element(WeightType type, std::uint8_t* b, int j, double x) {
  using ggml::read_f16;
  switch (type) {
    case WeightType::Q8_0: {
      // −128 is a valid int8 but no Q8_0 quantizer writes it, and int8 kernels that take |q| via sign tricks
      // (|−128| wraps to −128) assume it never comes: stay within ±127.
      const int c = nearest_code(x, read_f16(b), -127, 127, static_cast<std::int8_t>(b[2 + j]));
      b[2 + j] = static_cast<std::uint8_t>(static_cast<std::int8_t>(c));
      return;
    }
    case WeightType::Q4_0: {
      std::uint8_t& byte = b[2 + j % 16];
      const bool high = j >= 16;
      set_nibble(byte, high, nearest_code(x, read_f16(b), -8, 7, (high ? byte >> 4 : byte & 0xF) - 8) + 8);
      return;
    }
    case WeightType::Q5_0:
    case WeightType::Q5_1: {
      // Q5_0: y = (q − 16)·d, qh @2, qs @6; Q5_1: y = q·d + m, qh @4, qs @8 (ggml_block_decode.h).
      const bool asymmetric = type == WeightType::Q5_1;
      std::uint8_t* qh = b + (asymmetric ? 4 : 2);
      std::uint8_t& byte = b[(asymmetric ? 8 : 6) + j % 16];
      const bool high = j >= 16;
      std::uint32_t hbits;
      std::memcpy(&hbits, qh, 4);
      const int keep = (high ? byte >> 4 : byte & 0xF) | static_cast<int>(((hbits >> j) & 1) << 4);
      const int c = asymmetric ? nearest_code(x - static_cast<double>(read_f16(b + 2)), read_f16(b), 0, 31, keep)
                               : nearest_code(x, read_f16(b), -16, 15, keep - 16) + 16;
      set_nibble(byte, high, c & 0xF);
      hbits = (hbits & ~(1u << j)) | (static_cast<std::uint32_t>(c >> 4) << j);
      std::memcpy(qh, &hbits, 4);
      return;
    }
    case WeightType::IQ4_NL: {
      std::uint8_t& byte = b[2 + j % 16];
      const bool high = j >= 16;
      set_nibble(byte, high, nearest_iq4(x, read_f16(b), high ? byte >> 4 : byte & 0xF));
      return;
    }
    case WeightType::IQ4_XS: {
      const int ib = j / 32, e = j % 32;
      const unsigned scales_h = static_cast<unsigned>(b[2]) | (static_cast<unsigned>(b[3]) << 8);
      const int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | static_cast<int>(((scales_h >> (2 * ib)) & 3) << 4);
      std::uint8_t& byte = b[8 + 16 * ib + e % 16];
      const bool high = e >= 16;
      set_nibble(byte, high, nearest_iq4(x, static_cast<double>(read_f16(b)) * (ls - 32), high ? byte >> 4 : byte & 0xF));
      return;
    }
    case WeightType::Q4_K:
    case WeightType::Q5_K: {
      const int p = j / 64, within = j % 64, l = within % 32;
      const bool high = within >= 32;
      int sc, m;
      ggml::scale_min_k4(2 * p + (high ? 1 : 0), b + 4, sc, m);
      const double step = static_cast<double>(read_f16(b)) * sc, offset = static_cast<double>(read_f16(b + 2)) * m;
      if (type == WeightType::Q4_K) {
        std::uint8_t& byte = b[16 + 32 * p + l];
        set_nibble(byte, high, nearest_code(x + offset, step, 0, 15, high ? byte >> 4 : byte & 0xF));
      } else {
        std::uint8_t& byte = b[48 + 32 * p + l];
        std::uint8_t& hbits = b[16 + l];
        const int bit = 2 * p + (high ? 1 : 0);
        const int keep = (high ? byte >> 4 : byte & 0xF) | (((hbits >> bit) & 1) << 4);
        const int c = nearest_code(x + offset, step, 0, 31, keep);
        set_nibble(byte, high, c & 0xF);
        hbits = static_cast<std::uint8_t>((hbits & ~(1 << bit)) | ((c >> 4) << bit));
      }
      return;
    }
    case WeightType::Q6_K: {
      const int h = j / 128, r = j % 128, quarter = r / 32, l = r % 32;
      const auto sc = static_cast<std::int8_t>(b[192 + 8 * h + l / 16 + 2 * quarter]);
      std::uint8_t& low = b[64 * h + l + (quarter % 2 ? 32 : 0)];
      std::uint8_t& hbits = b[128 + 32 * h + l];
      const bool high_nibble = quarter >= 2;
      const int keep = ((high_nibble ? low >> 4 : low & 0xF) | (((hbits >> (2 * quarter)) & 3) << 4)) - 32;
      const double step = static_cast<double>(read_f16(b + 208)) * sc;
      const int c = nearest_code(x, step, -32, 31, keep) + 32;
      set_nibble(low, high_nibble, c & 0xF);
      hbits = static_cast<std::uint8_t>((hbits & ~(3 << (2 * quarter))) | ((c >> 4) << (2 * quarter)));
      return;
    }
    case WeightType::Q3_K: {
      const std::uint8_t* sc = b + 96;
      const int i = j / 16;
      const int lo = (i < 8 ? sc[i] : sc[i - 8] >> 4) & 0xF;
      const int hi = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
      const double step = static_cast<double>(read_f16(b + 108)) * ((lo | (hi << 4)) - 32);
      const int c4 = j / 128, s2 = (j / 32) % 4, l = j % 32;
      std::uint8_t& qs = b[32 + 32 * c4 + l];
      std::uint8_t& hmask = b[l];
      const int keep = ((qs >> (2 * s2)) & 3) - (((hmask >> (j / 32)) & 1) ? 0 : 4);
      const int c = nearest_code(x, step, -4, 3, keep);
      const int u = c + 4;  // low two bits, and the high bit set for codes ≥ 0
      qs = static_cast<std::uint8_t>((qs & ~(3 << (2 * s2))) | ((u & 3) << (2 * s2)));
      hmask = static_cast<std::uint8_t>((hmask & ~(1 << (j / 32))) | ((u >> 2) << (j / 32)));
      return;
    }
    case WeightType::Q2_K: {
      const std::uint8_t sc = b[j / 16];
      const double step = static_cast<double>(read_f16(b + 80)) * (sc & 0xF), offset = static_cast<double>(read_f16(b + 82)) * (sc >> 4);
      const int c4 = j / 128, s2 = (j / 32) % 4, l = j % 32;
      std::uint8_t& qs = b[16 + 32 * c4 + l];
      const int c = nearest_code(x + offset, step, 0, 3, (qs >> (2 * s2)) & 3);
      qs = static_cast<std::uint8_t>((qs & ~(3 << (2 * s2))) | (c << (2 * s2)));
      return;
    }
    default: fail(ErrorKind::DType, "error feedback: no element requantizer for " + std::string(weight_type_name(type)));
  }
}

// The block quantizer's first choice of scales and codes for one block. Q4_0/Q5_0/Q5_1 weight a block's elements
// by qw·sqrt(σ² + x²) with σ² the mean square of the whole row (`row_sigma2`, the original row's, as llama-quantize
// computes it), so they cannot be handed a lone block as a row of its own.
void quantize_first_choice(WeightType type, const float* block, std::uint8_t* yb, std::int64_t bs, const float* importance,
                           float row_sigma2) {
  switch (type) {
    case WeightType::Q4_0: return ggml::quantize_q4_0_block(block, yb, importance, row_sigma2);
    case WeightType::Q5_0: return ggml::quantize_q5_0_block(block, yb, importance, row_sigma2);
    case WeightType::Q5_1: return ggml::quantize_q5_1_block(block, yb, importance, row_sigma2);
    default: return quantize_ggml(type, block, yb, 1, bs, importance);
  }
}

// Elements whose codes are chosen together once the block's scales are fixed: IQ2_S picks one grid point per 8.
int unit_size(WeightType type) { return type == WeightType::IQ2_S ? 8 : 1; }

}  // namespace

std::vector<double> error_feedback_factor(const float* h, std::int64_t n, double damp) {
  if (n < 1) fail(ErrorKind::InvalidArgument, "error_feedback_factor: " + std::to_string(n) + " columns");
  if (!(damp >= 0.0) || !std::isfinite(damp))
    fail(ErrorKind::InvalidArgument, "error feedback: the dampening must be finite and >= 0, found " + std::to_string(damp));
  const auto nn = static_cast<std::size_t>(n * n);
  double mean_diag = 0.0;
  for (std::int64_t j = 0; j < n; ++j) mean_diag += h[j * n + j];
  mean_diag /= static_cast<double>(n);
  if (!(mean_diag > 0.0)) return {};
  // A tiny floor keeps a zero dampening usable on full-rank input; the retries cover the rest.
  double lambda = std::max(damp, 1e-6) * mean_diag;
  for (int attempt = 0; attempt < 8; ++attempt, lambda *= 10.0) {
    std::vector<double> a(nn);
    for (std::size_t i = 0; i < nn; ++i) a[i] = h[i];
    for (std::int64_t j = 0; j < n; ++j) {
      double& d = a[static_cast<std::size_t>(j * n + j)];
      if (d <= 0.0) d = 1.0;  // a column that never saw input: its rounding error costs nothing, it spreads none
      d += lambda;
    }
    if (!cholesky_lower(a, n)) continue;
    // H⁻¹ = L⁻ᵀ L⁻¹; its upper factor U (H⁻¹ = Uᵀ U) is the transpose of the lower Cholesky factor of H⁻¹.
    const std::vector<double> li = invert_lower(a, n);
    std::vector<double> hinv(nn, 0.0);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j <= i; ++j) {
        double s = 0.0;
        for (std::int64_t k = i; k < n; ++k) s += li[static_cast<std::size_t>(k * n + i)] * li[static_cast<std::size_t>(k * n + j)];
        hinv[static_cast<std::size_t>(i * n + j)] = s;
        hinv[static_cast<std::size_t>(j * n + i)] = s;
      }
    if (!cholesky_lower(hinv, n)) continue;
    std::vector<double> u(nn, 0.0);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j <= i; ++j) u[static_cast<std::size_t>(j * n + i)] = hinv[static_cast<std::size_t>(i * n + j)];
    return u;
  }
  fail(ErrorKind::InvalidArgument, "error feedback: the input covariance of " + std::to_string(n) +
                                       " columns is not positive definite even with heavy dampening (non-finite statistics?)");
}

bool ggml_error_feedback_supports(WeightType type) {
  switch (type) {
    case WeightType::Q8_0:
    case WeightType::Q4_0:
    case WeightType::Q5_0:
    case WeightType::Q5_1:
    case WeightType::Q2_K:
    case WeightType::Q3_K:
    case WeightType::Q4_K:
    case WeightType::Q5_K:
    case WeightType::Q6_K:
    case WeightType::IQ4_NL:
    case WeightType::IQ4_XS:
    case WeightType::IQ2_S: return true;
    default: return false;
  }
}

void quantize_ggml_error_feedback(WeightType type, const float* src, std::uint8_t* dst, std::int64_t rows, std::int64_t cols,
                                  const float* importance, const std::vector<double>& u) {
  if (!ggml_error_feedback_supports(type))
    fail(ErrorKind::DType, "error feedback: " + std::string(weight_type_name(type)) + " is not a per-block GGML type it handles");
  if (u.size() != static_cast<std::size_t>(cols * cols))
    fail(ErrorKind::Shape, "error feedback: a factor of " + std::to_string(u.size()) + " values for rows of " + std::to_string(cols));
  const std::int64_t bs = weight_block_size(type);
  if (cols % bs != 0)
    fail(ErrorKind::Shape, "quantize " + std::string(weight_type_name(type)) + ": rows of " + std::to_string(cols) +
                               " are not whole blocks of " + std::to_string(bs));
  const std::size_t bb = weight_block_bytes(type);
  const std::size_t row_bytes = weight_row_bytes(type, static_cast<std::size_t>(cols));
  const int unit = unit_size(type);
  std::vector<double> w(static_cast<std::size_t>(cols));
  std::vector<float> block(static_cast<std::size_t>(bs)), q(static_cast<std::size_t>(bs));
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < cols; ++j) w[static_cast<std::size_t>(j)] = src[r * cols + j];
    std::uint8_t* y = dst + static_cast<std::size_t>(r) * row_bytes;
    const float row_sigma2 = importance ? ggml::row_mean_square(src + r * cols, cols) : 0.0f;
    for (std::int64_t b = 0; b < cols / bs; ++b) {
      const std::int64_t c0 = b * bs;
      for (std::int64_t j = 0; j < bs; ++j) block[static_cast<std::size_t>(j)] = static_cast<float>(w[static_cast<std::size_t>(c0 + j)]);
      std::uint8_t* yb = y + static_cast<std::size_t>(b) * bb;
      quantize_first_choice(type, block.data(), yb, bs, importance ? importance + c0 : nullptr, row_sigma2);
      // The block quantizer fixed the scales (and a first choice of codes) from the values as they stood; now the
      // codes are re-chosen unit by unit under those scales, each unit after the error of the ones before it in
      // this block has been fed forward, so in-block neighbours compensate each other too. Fixing column j to q_j
      // and re-solving the columns after it for least output error is the OBS update w_k −= e·U_jk (k > j).
      for (std::int64_t j0 = c0; j0 < c0 + bs; j0 += unit) {
        const int e0 = static_cast<int>(j0 - c0);
        if (unit == 1) {
          requantize_element(type, yb, e0, w[static_cast<std::size_t>(j0)]);
        } else {
          float target[8], weight[8];
          for (int i = 0; i < unit; ++i) {
            target[i] = static_cast<float>(w[static_cast<std::size_t>(j0 + i)]);
            const double ujj = u[static_cast<std::size_t>((j0 + i) * cols + j0 + i)];
            weight[i] = static_cast<float>(1.0 / (ujj * ujj));  // the cost of column j0+i's error, e²/U_jj²
          }
          ggml::requantize_iq2_s_group(yb, e0 / 8, target, weight);
        }
        // The decoder, not a re-derivation, says what the codes mean.
        dequantize_ggml(type, yb, q.data(), bs);
        for (std::int64_t j = j0; j < j0 + unit; ++j) {
          const double* uj = u.data() + j * cols;
          const double e = (w[static_cast<std::size_t>(j)] - q[static_cast<std::size_t>(j - c0)]) / uj[j];
          for (std::int64_t k = j + 1; k < cols; ++k) w[static_cast<std::size_t>(k)] -= e * uj[k];
        }
      }
    }
  }
}

double hessian_weighted_error(WeightType type, const float* w, const std::uint8_t* blocks, std::int64_t rows, std::int64_t cols,
                              const float* h) {
  const std::size_t row_bytes = weight_row_bytes(type, static_cast<std::size_t>(cols));
  std::vector<float> q(static_cast<std::size_t>(cols));
  std::vector<double> d(static_cast<std::size_t>(cols));
  double total = 0.0;
  for (std::int64_t r = 0; r < rows; ++r) {
    dequantize_ggml(type, blocks + static_cast<std::size_t>(r) * row_bytes, q.data(), cols);
    for (std::int64_t j = 0; j < cols; ++j) d[static_cast<std::size_t>(j)] = static_cast<double>(w[r * cols + j]) - q[static_cast<std::size_t>(j)];
    for (std::int64_t i = 0; i < cols; ++i) {
      double s = 0.0;
      for (std::int64_t j = 0; j < cols; ++j) s += static_cast<double>(h[i * cols + j]) * d[static_cast<std::size_t>(j)];
      total += d[static_cast<std::size_t>(i)] * s;
    }
  }
  return rows > 0 ? total / static_cast<double>(rows) : 0.0;
}

}  // namespace glmq
