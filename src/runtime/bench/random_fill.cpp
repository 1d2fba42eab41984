#include "runtime/bench/random_fill.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace yopo::bench {

namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;
constexpr int64_t kBlock = 1 << 16;

inline float uniform_at(uint64_t seed, int64_t i, float scale) {
  const uint64_t bits = splitmix64_at(seed, uint64_t(i)) >> 40;  // 24 bits
  const float u = float(bits) * (1.0f / 16777216.0f);            // [0, 1)
  return (2.0f * u - 1.0f) * scale;
}

}  // namespace

uint64_t splitmix64_at(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * kGolden;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b) {
  return splitmix64_at(splitmix64_at(seed, a), b);
}

void fill_uniform(float* out, int64_t n, uint64_t seed, float scale) {
  check(n >= 0, "random fill: negative size ", n);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    for (int64_t i = b; i < e; ++i) out[i] = uniform_at(seed, i, scale);
  }
}

void fill_uniform_bf16(uint16_t* out, int64_t n, uint64_t seed, float scale) {
  check(n >= 0, "random fill: negative size ", n);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    for (int64_t i = b; i < e; ++i) out[i] = f32_to_bf16(uniform_at(seed, i, scale));
  }
}

ops::WeightMatrix random_weight_matrix(int64_t rows, int64_t cols, DType dtype, uint64_t seed) {
  check(rows > 0 && cols > 0, "random weight matrix: sizes must be positive, not ", rows, " x ",
        cols);
  check(dtype == DType::F32 || dtype == DType::BF16 || dtype == DType::I8,
        "random weight matrix: dtype must be F32, BF16 or I8, not ", dtype_name(dtype));
  if (dtype == DType::I8) {
    // The F32 values of the same seed, quantized per row.
    const ops::WeightMatrix f = random_weight_matrix(rows, cols, DType::F32, seed);
    return ops::WeightMatrix::quantize_int8(f.data.as<float>(), rows, cols);
  }
  ops::WeightMatrix w;
  w.dtype = dtype;
  w.rows = rows;
  w.cols = cols;
  w.data = AlignedBuffer(size_t(rows * cols * ops::weight_element_bytes(dtype)));
  const float scale = std::sqrt(3.0f / float(cols));
  if (dtype == DType::BF16) {
    fill_uniform_bf16(w.data.as<uint16_t>(), rows * cols, seed, scale);
  } else {
    fill_uniform(w.data.as<float>(), rows * cols, seed, scale);
  }
  return w;
}

}  // namespace yopo::bench
