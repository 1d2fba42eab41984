#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "ops/norm.h"
#include "ops/reference.h"
#include "unit/ops_test_util.h"

namespace yopo::ops {
namespace {

using test::expect_close_2d;
using test::random_floats;

TEST(RmsNorm, MatchesReference) {
  for (int64_t dim : {1, 7, 37, 4096}) {
    for (int64_t rows : {1, 3}) {
      const int64_t ldx = dim + 5, ldy = dim + 2;
      const std::vector<float> x = random_floats(size_t(rows * ldx), uint32_t(dim), -3.f, 3.f);
      const std::vector<float> w = random_floats(size_t(dim), uint32_t(dim + 1), 0.5f, 1.5f);
      std::vector<float> y(size_t(rows * ldy)), want(y.size());
      rms_norm(x.data(), rows, dim, ldx, w.data(), 1e-5f, y.data(), ldy);
      ref::rms_norm(x.data(), rows, dim, ldx, w.data(), 1e-5f, want.data(), ldy);
      expect_close_2d(y.data(), ldy, want.data(), ldy, rows, dim, 1e-5, 1e-6,
                      "rms_norm dim " + std::to_string(dim));
    }
  }
}

// y = x / sqrt(mean(x^2) + eps) * w worked by hand: x = (3, 4), mean(x^2) = 12.5.
TEST(RmsNorm, HandComputed) {
  const float x[2] = {3.0f, 4.0f}, w[2] = {1.0f, 2.0f};
  float y[2];
  rms_norm(x, 1, 2, 2, w, 0.0f, y, 2);
  EXPECT_NEAR(y[0], 3.0 / std::sqrt(12.5), 1e-6);
  EXPECT_NEAR(y[1], 8.0 / std::sqrt(12.5), 1e-6);
}

TEST(RmsNorm, InPlace) {
  const int64_t dim = 33;
  std::vector<float> x = random_floats(2 * dim, 9);
  const std::vector<float> w = random_floats(dim, 10);
  std::vector<float> want(x.size());
  ref::rms_norm(x.data(), 2, dim, dim, w.data(), 1e-6f, want.data(), dim);
  rms_norm(x.data(), 2, dim, dim, w.data(), 1e-6f, x.data(), dim);
  test::expect_close(x.data(), want.data(), 2 * dim, 1e-5, 1e-6, "in place");
}

TEST(LayerNorm, MatchesReference) {
  for (int64_t dim : {1, 5, 37, 1024}) {
    for (bool bias : {false, true}) {
      const int64_t rows = 3, ldx = dim + 1, ldy = dim + 4;
      std::vector<float> x = random_floats(size_t(rows * ldx), uint32_t(dim), -2.f, 4.f);
      const std::vector<float> w = random_floats(size_t(dim), uint32_t(dim + 1));
      const std::vector<float> b = random_floats(size_t(dim), uint32_t(dim + 2));
      std::vector<float> y(size_t(rows * ldy)), want(y.size());
      const float* bp = bias ? b.data() : nullptr;
      layer_norm(x.data(), rows, dim, ldx, w.data(), bp, 1e-5f, y.data(), ldy);
      ref::layer_norm(x.data(), rows, dim, ldx, w.data(), bp, 1e-5f, want.data(), ldy);
      expect_close_2d(y.data(), ldy, want.data(), ldy, rows, dim, 1e-5, 1e-5,
                      "layer_norm dim " + std::to_string(dim));
    }
  }
}

// (x - mean) / sqrt(var + eps) * w + b by hand: x = (1, 3), mean 2, var 1.
TEST(LayerNorm, HandComputed) {
  const float x[2] = {1.0f, 3.0f}, w[2] = {2.0f, 3.0f}, b[2] = {0.5f, -0.5f};
  float y[2];
  layer_norm(x, 1, 2, 2, w, b, 0.0f, y, 2);
  EXPECT_NEAR(y[0], -2.0 + 0.5, 1e-6);
  EXPECT_NEAR(y[1], 3.0 - 0.5, 1e-6);
}

TEST(Norm, RejectsBadShapes) {
  const float x[4] = {}, w[4] = {};
  float y[4];
  EXPECT_THROW(rms_norm(x, 1, 4, 3, w, 1e-5f, y, 4), Error);
  EXPECT_THROW(layer_norm(x, 1, 0, 4, w, nullptr, 1e-5f, y, 4), Error);
}

}  // namespace
}  // namespace yopo::ops
