#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ops/activations.h"
#include "ops/reference.h"
#include "unit/ops_test_util.h"

namespace yopo::ops {
namespace {

using test::expect_close;
using test::random_floats;

const int64_t kSizes[] = {1, 7, 8, 9, 100, 1027};

TEST(Activations, SiluMulMatchesReference) {
  for (int64_t n : kSizes) {
    const std::vector<float> g = random_floats(size_t(n), uint32_t(n), -12.f, 12.f);
    const std::vector<float> u = random_floats(size_t(n), uint32_t(n + 1), -3.f, 3.f);
    std::vector<float> out(static_cast<size_t>(n)), want(static_cast<size_t>(n));
    silu_mul(g.data(), u.data(), out.data(), n);
    ref::silu_mul(g.data(), u.data(), want.data(), n);
    expect_close(out.data(), want.data(), n, 1e-5, 1e-7, "silu_mul n=" + std::to_string(n));
    // In place over gate.
    std::vector<float> g2 = g;
    silu_mul(g2.data(), u.data(), g2.data(), n);
    expect_close(g2.data(), want.data(), n, 1e-5, 1e-7, "silu_mul in place");
  }
}

TEST(Activations, SiluExtremes) {
  const float g[8] = {-200.f, -90.f, -30.f, 0.f, 30.f, 90.f, 200.f, -0.f};
  const float u[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  float out[8], want[8];
  silu_mul(g, u, out, 8);
  ref::silu_mul(g, u, want, 8);
  expect_close(out, want, 8, 1e-5, 1e-30, "silu extremes");
}

TEST(Activations, GeluMatchesReference) {
  for (int64_t n : kSizes) {
    const std::vector<float> x = random_floats(size_t(n), uint32_t(n), -8.f, 8.f);
    std::vector<float> a = x, want = x;
    gelu_erf(a.data(), n);
    ref::gelu_erf(want.data(), n);
    expect_close(a.data(), want.data(), n, 1e-5, 1e-7, "gelu_erf");
    a = x;
    want = x;
    gelu_quick(a.data(), n);
    ref::gelu_quick(want.data(), n);
    expect_close(a.data(), want.data(), n, 1e-5, 1e-7, "gelu_quick");
  }
}

// GELU at 1: 0.5 * (1 + erf(1/sqrt 2)) = 0.841344746...; QuickGELU at 1: 1/(1+e^-1.702).
TEST(Activations, GeluHandValues) {
  float a = 1.0f, b = 1.0f;
  gelu_erf(&a, 1);
  gelu_quick(&b, 1);
  EXPECT_NEAR(a, 0.8413447460685429, 1e-6);
  EXPECT_NEAR(b, 1.0 / (1.0 + std::exp(-1.702)), 1e-6);
}

TEST(Activations, SoftmaxMatchesReference) {
  for (int64_t n : kSizes) {
    std::vector<float> x = random_floats(size_t(n), uint32_t(n), -30.f, 30.f);
    std::vector<float> want = x;
    softmax_inplace(x.data(), n);
    ref::softmax(want.data(), n);
    expect_close(x.data(), want.data(), n, 1e-5, 1e-9, "softmax n=" + std::to_string(n));
  }
}

TEST(Activations, SoftmaxWithMaskedEntries) {
  const float inf = std::numeric_limits<float>::infinity();
  float x[9] = {1.f, -inf, 2.f, -inf, 0.f, 3.f, -inf, 1.f, 1.f};
  float want[9];
  std::copy(x, x + 9, want);
  softmax_inplace(x, 9);
  ref::softmax(want, 9);
  expect_close(x, want, 9, 1e-6, 1e-9, "masked softmax");
  EXPECT_EQ(x[1], 0.0f);
}

TEST(Activations, ExpAccuracyAndSpecialValues) {
  std::vector<float> x;
  for (float v = -110.f; v <= 90.f; v += 0.0137f) x.push_back(v);
  std::vector<float> e = x;
  exp_inplace(e.data(), int64_t(e.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = std::exp(double(x[i]));
    if (want > std::numeric_limits<float>::max()) {
      EXPECT_TRUE(std::isinf(e[i])) << x[i];
    } else if (want >= std::numeric_limits<float>::min()) {
      EXPECT_NEAR(e[i], want, 3e-7 * want) << x[i];
    } else {
      EXPECT_NEAR(e[i], want, 2e-45) << x[i];  // subnormal range: absolute
    }
  }
  const float inf = std::numeric_limits<float>::infinity();
  float s[8] = {-inf, inf, std::nanf(""), 0.f, -0.f, 1.f, -1.f, 88.f};
  exp_inplace(s, 8);
  EXPECT_EQ(s[0], 0.0f);
  EXPECT_TRUE(std::isinf(s[1]));
  EXPECT_TRUE(std::isnan(s[2]));
  EXPECT_EQ(s[3], 1.0f);
  EXPECT_EQ(s[4], 1.0f);
  EXPECT_NEAR(s[5], 2.718281828459045, 3e-7);
  EXPECT_NEAR(s[6], 0.36787944117144233, 1e-7);
  EXPECT_NEAR(s[7], std::exp(88.0), 3e-7 * std::exp(88.0));
}

}  // namespace
}  // namespace yopo::ops
