// Interop with the real MLX (PyPI mlx, CPU): glmq's affine quantizer produces MLX's codes, scales and biases
// bit for bit, and its dequantizer (MLX rounding) reproduces mx.dequantize bit for bit, for every bits × group
// size, for float32 and bfloat16 inputs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

#include "core/float_convert.h"
#include "formats/safetensors.h"
#include "quant/mlx_affine.h"

namespace glmq {
namespace {

const TensorSource& find(const SafetensorsFile& f, const std::string& name) {
  for (const auto& t : f.tensors())
    if (t.name == name) return t;
  throw std::runtime_error("missing " + name);
}

TEST(MlxInterop, AffineQuantizeAndDequantizeAreBitExact) {
  const std::string out = std::string(GLMQ_BINARY_DIR) + "/mlx_affine_reference.safetensors";
  const std::string cmd = "python3 " + std::string(GLMQ_SOURCE_DIR) + "/tests/interop/mlx_affine_reference.py " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "running " << cmd << " (needs: pip install -r tests/interop/requirements.txt)";
  SafetensorsFile ref(out);
  int cases = 0;
  for (const char* dtype : {"f32", "bf16"})
    for (int bits : {2, 3, 4, 5, 6, 8})
      for (std::int64_t gs : {32, 64, 128}) {
        const std::string key = std::string(dtype) + ".b" + std::to_string(bits) + ".g" + std::to_string(gs);
        const auto& in = find(ref, key + ".input");
        const std::int64_t rows = in.shape[0], cols = in.shape[1];
        const WeightType aux = std::string(dtype) == "f32" ? WeightType::F32 : WeightType::BF16;
        AffineQuantized q = quantize_affine(reinterpret_cast<const float*>(in.data), rows, cols, bits, gs, aux);
        const auto& codes = find(ref, key + ".codes");
        ASSERT_EQ(codes.nbytes, q.codes.size()) << key;
        EXPECT_EQ(std::memcmp(codes.data, q.codes.data(), q.codes.size()), 0) << key << ": packed codes differ";
        WeightMatrix m{*affine_type_for_bits(bits), rows, cols, q.codes.data(), q.scales.data(), q.biases.data(), aux, gs};
        const auto* want_s = reinterpret_cast<const float*>(find(ref, key + ".scales").data);
        const auto* want_b = reinterpret_cast<const float*>(find(ref, key + ".biases").data);
        for (std::int64_t i = 0; i < rows * (cols / gs); ++i) {
          ASSERT_EQ(affine_aux(m.scales, aux, i), want_s[i]) << key << " scale " << i;
          ASSERT_EQ(affine_aux(m.biases, aux, i), want_b[i]) << key << " bias " << i;
        }
        // Dequantize MLX's own packed tensors (not ours) so the check is independent of the quantizer.
        const auto* want_d = reinterpret_cast<const float*>(find(ref, key + ".dequantized").data);
        std::vector<float> row(static_cast<std::size_t>(cols));
        for (std::int64_t r = 0; r < rows; ++r) {
          dequantize_affine_row(m, r, row.data(), true);
          for (std::int64_t c = 0; c < cols; ++c) ASSERT_EQ(row[static_cast<std::size_t>(c)], want_d[r * cols + c]) << key << " row " << r << " col " << c;
        }
        ++cases;
      }
  EXPECT_EQ(cases, 36);
}

}  // namespace
}  // namespace glmq
