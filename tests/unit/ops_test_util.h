// Helpers shared by the ops_* unit tests: seeded random data and element-wise comparison.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace yopo::ops::test {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// Expects |got - want| <= atol + rtol * |want| for every element; reports the first few misses.
inline void expect_close(const float* got, const float* want, int64_t n, double rtol, double atol,
                         const std::string& what) {
  int misses = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double g = got[i], w = want[i];
    const bool ok = (std::isnan(g) && std::isnan(w)) || g == w ||
                    std::fabs(g - w) <= atol + rtol * std::fabs(w);
    if (!ok && ++misses <= 5)
      ADD_FAILURE() << what << ": element " << i << " is " << g << ", expected " << w << " (diff "
                    << std::fabs(g - w) << ")";
  }
  EXPECT_EQ(misses, 0) << what << ": " << misses << " of " << n << " elements differ";
}

// Compares rows x cols elements of two strided matrices.
inline void expect_close_2d(const float* got, int64_t ldg, const float* want, int64_t ldw,
                            int64_t rows, int64_t cols, double rtol, double atol,
                            const std::string& what) {
  for (int64_t r = 0; r < rows; ++r)
    expect_close(got + r * ldg, want + r * ldw, cols, rtol, atol,
                 what + " row " + std::to_string(r));
}

}  // namespace yopo::ops::test
