#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "ops/context.h"
#include "ops/matmul.h"
#include "ops/reference.h"
#include "ops/weights.h"
#include "unit/ops_test_util.h"

namespace yopo::ops {
namespace {

using test::expect_close_2d;
using test::random_floats;

struct Case {
  int64_t M, K, N;
};

// Largest |y| of the reference: bf16 results are compared relative to the output magnitude.
double max_abs(const std::vector<float>& v) {
  double m = 0.0;
  for (float x : v) m = std::max(m, double(std::fabs(x)));
  return m;
}

// Runs matmul against the reference on rows/cols of a larger matrix through a view, with
// strides wider than the data, optionally accumulating into existing y.
void check_case(Context& ctx, const Case& c, DType dtype, bool accumulate, int64_t r0 = 0,
                int64_t c0 = 0, int64_t extra_rows = 0, int64_t extra_cols = 0) {
  const int64_t rows = c.N + r0 + extra_rows, cols = c.K + c0 + extra_cols;
  const uint32_t seed = uint32_t(c.M * 7919 + c.K * 104729 + c.N * 31 + r0 + c0);
  const std::vector<float> wf = random_floats(size_t(rows * cols), seed);
  const WeightMatrix wm = WeightMatrix::from_f32(wf.data(), rows, cols, dtype);
  const WeightView w = wm.view(r0, c.N, c0, c.K);
  const int64_t ldx = c.K + 3, ldy = c.N + 5;
  const std::vector<float> x = random_floats(size_t(c.M * ldx), seed + 1, -2.0f, 2.0f);
  std::vector<float> y = random_floats(size_t(c.M * ldy), seed + 2);
  std::vector<float> want = y;
  matmul(ctx, x.data(), c.M, ldx, w, y.data(), ldy, accumulate);
  ref::matmul(x.data(), c.M, ldx, w, want.data(), ldy, accumulate);
  const std::string what = std::string(dtype_name(dtype)) + " M=" + std::to_string(c.M) +
                           " K=" + std::to_string(c.K) + " N=" + std::to_string(c.N) +
                           (accumulate ? " acc" : "") + " r0=" + std::to_string(r0) +
                           " c0=" + std::to_string(c0) + (ctx.avx512() ? " avx512" : "") +
                           " small_m=" + std::to_string(ctx.matmul_small_m());
  if (dtype == DType::F32) {
    // f32 sums of up to a few hundred terms of magnitude ~1.
    expect_close_2d(y.data(), ldy, want.data(), ldy, c.M, c.N, 1e-5, 1e-5 * std::sqrt(c.K), what);
  } else {
    expect_close_2d(y.data(), ldy, want.data(), ldy, c.M, c.N, 0.0, 1e-3 * max_abs(want) + 1e-6,
                    what);
  }
  // Padding between rows is left alone.
  for (int64_t m = 0; m < c.M; ++m)
    for (int64_t n = c.N; n < ldy; ++n)
      ASSERT_EQ(y[size_t(m * ldy + n)], want[size_t(m * ldy + n)]);
}

const Case kCases[] = {{1, 1, 1},      {1, 7, 5},     {1, 64, 16}, {1, 130, 37}, {2, 33, 9},
                       {3, 65, 19},    {4, 31, 40},   {5, 17, 3},  {7, 100, 33}, {17, 64, 64},
                       {33, 515, 129}, {64, 96, 200}, {100, 33, 1}};

class MatmulTest : public ::testing::TestWithParam<std::tuple<DType, bool, int>> {};

TEST_P(MatmulTest, MatchesReference) {
  const auto [dtype, avx512, threads] = GetParam();
  Context ctx(threads);
  ctx.set_avx512(avx512);
  // Default split, everything in oneDNN, everything in the engine's own kernel.
  for (int64_t small_m : {kMatmulSmallM, int64_t(0), int64_t(1) << 40}) {
    ctx.set_matmul_small_m(small_m);
    for (const Case& c : kCases) {
      check_case(ctx, c, dtype, false);
      check_case(ctx, c, dtype, true);
    }
  }
}

TEST_P(MatmulTest, SubMatrixViews) {
  const auto [dtype, avx512, threads] = GetParam();
  Context ctx(threads);
  ctx.set_avx512(avx512);
  for (const Case& c : {Case{1, 37, 11}, Case{3, 64, 20}, Case{9, 50, 24}, Case{40, 70, 33}}) {
    check_case(ctx, c, dtype, false, 5, 0, 3, 0);  // row subset
    check_case(ctx, c, dtype, false, 0, 9, 0, 4);  // column subset
    check_case(ctx, c, dtype, true, 2, 13, 7, 6);  // both, accumulating
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, MatmulTest,
                         ::testing::Combine(::testing::Values(DType::F32, DType::BF16),
                                            ::testing::Bool(), ::testing::Values(1, 2)));

// Both sides of the small-M threshold give the same result as the reference.
TEST(Matmul, AroundSmallMThreshold) {
  Context ctx;
  for (int64_t M = kMatmulSmallM - 1; M <= kMatmulSmallM + 2; ++M) {
    check_case(ctx, {M, 256, 48}, DType::BF16, false);
    check_case(ctx, {M, 256, 48}, DType::F32, true);
  }
}

// bf16: x is rounded to bf16 (7 stored mantissa bits, nearest even) before the product; with
// W = 1 the output is the rounded x. Near 1 the bf16 spacing is 2^-7.
TEST(Matmul, Bf16RoundsInput) {
  Context ctx;
  const float w1 = 1.0f;
  const WeightMatrix w = WeightMatrix::from_f32(&w1, 1, 1, DType::BF16);
  const float u = std::ldexp(1.0f, -7);
  const struct {
    float x, rounded;
  } kValues[] = {
      {1.0f + u / 4, 1.0f},              // below the midpoint: down
      {1.0f + u * 3 / 4, 1.0f + u},      // above the midpoint: up
      {1.0f + u / 2, 1.0f},              // tie: to the even mantissa (1)
      {1.0f + u * 3 / 2, 1.0f + 2 * u},  // tie: to the even mantissa (1 + 2u)
  };
  for (int64_t M : {int64_t(1), kMatmulSmallM + 4}) {
    for (const auto& v : kValues) {
      std::vector<float> x(size_t(M), v.x), y(size_t(M), -1.0f);
      matmul(ctx, x.data(), M, 1, w.full(), y.data(), 1);
      for (float r : y) EXPECT_EQ(r, v.rounded) << "x = " << v.x << ", M = " << M;
    }
  }
}

TEST(Matmul, CachesPrimitivesByShape) {
  Context ctx;
  const std::vector<float> wf = random_floats(64 * 32, 5);
  const WeightMatrix w = WeightMatrix::from_f32(wf.data(), 64, 32, DType::BF16);
  const std::vector<float> x = random_floats(40 * 32, 6);
  std::vector<float> y(40 * 64);
  matmul(ctx, x.data(), 20, 32, w.full(), y.data(), 64);
  const size_t n = ctx.cached_matmuls();
  EXPECT_GE(n, 1u);
  matmul(ctx, x.data(), 20, 32, w.full(), y.data(), 64);
  EXPECT_EQ(ctx.cached_matmuls(), n);
  matmul(ctx, x.data(), 40, 32, w.full(), y.data(), 64);
  EXPECT_EQ(ctx.cached_matmuls(), n + 1);
}

TEST(Matmul, EmptyShapes) {
  Context ctx;
  const std::vector<float> wf = random_floats(6, 1);
  const WeightMatrix w = WeightMatrix::from_f32(wf.data(), 3, 2, DType::F32);
  std::vector<float> y(6, 5.0f);
  const float x[4] = {1, 2, 3, 4};
  matmul(ctx, x, 0, 2, w.full(), y.data(), 3);  // M = 0: nothing written
  for (float v : y) EXPECT_EQ(v, 5.0f);
  matmul(ctx, x, 2, 2, w.view(0, 3, 0, 0), y.data(), 3);  // K = 0: zeros
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(Matmul, RejectsBadArguments) {
  Context ctx;
  const std::vector<float> wf = random_floats(12, 1);
  const WeightMatrix w = WeightMatrix::from_f32(wf.data(), 3, 4, DType::F32);
  std::vector<float> x(8), y(6);
  EXPECT_THROW(matmul(ctx, x.data(), 2, 3, w.full(), y.data(), 3), Error);  // ldx < K
  EXPECT_THROW(matmul(ctx, x.data(), 2, 4, w.full(), y.data(), 2), Error);  // ldy < N
  WeightView bad = w.full();
  bad.dtype = DType::F16;
  EXPECT_THROW(matmul(ctx, x.data(), 2, 4, bad, y.data(), 3), Error);
  bad = w.full();
  bad.ld = 2;
  EXPECT_THROW(matmul(ctx, x.data(), 2, 4, bad, y.data(), 3), Error);
}

}  // namespace
}  // namespace yopo::ops
