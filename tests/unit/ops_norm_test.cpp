#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "ops/context.h"
#include "ops/norm.h"
#include "ops/reference.h"
#include "unit/ops_test_util.h"

namespace yopo::ops {
namespace {

using test::expect_close_2d;
using test::random_floats;

TEST(RmsNorm, MatchesReference) {
  Context ctx(1);
  for (int64_t dim : {1, 7, 37, 4096}) {
    for (int64_t rows : {1, 3}) {
      const int64_t ldx = dim + 5, ldy = dim + 2;
      const std::vector<float> x = random_floats(size_t(rows * ldx), uint32_t(dim), -3.f, 3.f);
      const std::vector<float> w = random_floats(size_t(dim), uint32_t(dim + 1), 0.5f, 1.5f);
      std::vector<float> y(size_t(rows * ldy)), want(y.size());
      rms_norm(ctx, x.data(), rows, dim, ldx, w.data(), 1e-5f, y.data(), ldy);
      ref::rms_norm(x.data(), rows, dim, ldx, w.data(), 1e-5f, want.data(), ldy);
      expect_close_2d(y.data(), ldy, want.data(), ldy, rows, dim, 1e-5, 1e-6,
                      "rms_norm dim " + std::to_string(dim));
    }
  }
}

// y = x / sqrt(mean(x^2) + eps) * w worked by hand: x = (3, 4), mean(x^2) = 12.5.
TEST(RmsNorm, HandComputed) {
  Context ctx(1);
  const float x[2] = {3.0f, 4.0f}, w[2] = {1.0f, 2.0f};
  float y[2];
  rms_norm(ctx, x, 1, 2, 2, w, 0.0f, y, 2);
  EXPECT_NEAR(y[0], 3.0 / std::sqrt(12.5), 1e-6);
  EXPECT_NEAR(y[1], 8.0 / std::sqrt(12.5), 1e-6);
}

TEST(RmsNorm, InPlace) {
  Context ctx(1);
  const int64_t dim = 33;
  std::vector<float> x = random_floats(2 * dim, 9);
  const std::vector<float> w = random_floats(dim, 10);
  std::vector<float> want(x.size());
  ref::rms_norm(x.data(), 2, dim, dim, w.data(), 1e-6f, want.data(), dim);
  rms_norm(ctx, x.data(), 2, dim, dim, w.data(), 1e-6f, x.data(), dim);
  test::expect_close(x.data(), want.data(), 2 * dim, 1e-5, 1e-6, "in place");
}

TEST(LayerNorm, MatchesReference) {
  Context ctx(1);
  for (int64_t dim : {1, 5, 37, 1024}) {
    for (bool bias : {false, true}) {
      const int64_t rows = 3, ldx = dim + 1, ldy = dim + 4;
      std::vector<float> x = random_floats(size_t(rows * ldx), uint32_t(dim), -2.f, 4.f);
      const std::vector<float> w = random_floats(size_t(dim), uint32_t(dim + 1));
      const std::vector<float> b = random_floats(size_t(dim), uint32_t(dim + 2));
      std::vector<float> y(size_t(rows * ldy)), want(y.size());
      const float* bp = bias ? b.data() : nullptr;
      layer_norm(ctx, x.data(), rows, dim, ldx, w.data(), bp, 1e-5f, y.data(), ldy);
      ref::layer_norm(x.data(), rows, dim, ldx, w.data(), bp, 1e-5f, want.data(), ldy);
      expect_close_2d(y.data(), ldy, want.data(), ldy, rows, dim, 1e-5, 1e-5,
                      "layer_norm dim " + std::to_string(dim));
    }
  }
}

// (x - mean) / sqrt(var + eps) * w + b by hand: x = (1, 3), mean 2, var 1.
TEST(LayerNorm, HandComputed) {
  Context ctx(1);
  const float x[2] = {1.0f, 3.0f}, w[2] = {2.0f, 3.0f}, b[2] = {0.5f, -0.5f};
  float y[2];
  layer_norm(ctx, x, 1, 2, 2, w, b, 0.0f, y, 2);
  EXPECT_NEAR(y[0], -2.0 + 0.5, 1e-6);
  EXPECT_NEAR(y[1], 3.0 - 0.5, 1e-6);
}

// The threaded path: inputs with at least kNormParallelRows rows split their rows over the
// context's threads. Every thread count must give the same bits as one thread (each row is
// computed by the same code), match the reference, write only the first dim floats of each output
// row, and work in place.
struct NormShape {
  int64_t rows, dim, ldx, ldy;
};

// Output rows start filled with NaN so that a skipped row or a write into the stride padding
// shows.
std::vector<float> sentinel_output(const NormShape& s) {
  return std::vector<float>(size_t(s.rows * s.ldy), std::numeric_limits<float>::quiet_NaN());
}

void expect_padding_untouched(const std::vector<float>& y, const NormShape& s,
                              const std::string& what) {
  int64_t touched = 0;
  for (int64_t r = 0; r < s.rows; ++r)
    for (int64_t i = s.dim; i < s.ldy; ++i) touched += !std::isnan(y[size_t(r * s.ldy + i)]);
  EXPECT_EQ(touched, 0) << what << ": wrote into the row stride padding";
}

void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want,
                      const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int64_t differ = 0, first = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    uint32_t a, b;
    std::memcpy(&a, &got[i], 4);
    std::memcpy(&b, &want[i], 4);
    if (a != b && differ++ == 0) first = int64_t(i);
  }
  EXPECT_EQ(differ, 0) << what << ": " << differ
                       << " floats differ from the 1-thread result, first at " << first;
}

const NormShape kThreadedShapes[] = {
    {577, 1024, 1024, 1024},              // CLIP ViT-L/14-336 rows
    {577, 1024, 1030, 1027},              // strided rows (ldx, ldy > dim)
    {576, 4096, 4096, 4096},              // LLaVA-1.5-7B visual rows
    {kNormParallelRows, 37, 41, 39},      // the smallest threaded input, a ragged dim
    {kNormParallelRows - 1, 37, 41, 39},  // the largest serial one
};

// One norm over shape s: on 1 thread it must match the reference `want` (tolerance atol) and
// leave the output padding alone; on 2-4 threads (and in place, where the rows are unpadded) it
// must give the 1-thread result's exact bits. run(ctx, in, out) calls the norm under test.
template <class Run>
void check_thread_counts(const NormShape& s, const std::string& what, const std::vector<float>& x,
                         const std::vector<float>& want, double atol, Run run) {
  std::vector<float> one = sentinel_output(s);
  {
    Context ctx(1);
    run(ctx, x.data(), one.data());
  }
  expect_close_2d(one.data(), s.ldy, want.data(), s.ldy, s.rows, s.dim, 1e-5, atol, what);
  expect_padding_untouched(one, s, what);
  for (int threads : {2, 3, 4}) {
    Context ctx(threads);
    const std::string wt = what + ", " + std::to_string(threads) + " threads";
    std::vector<float> y = sentinel_output(s);
    run(ctx, x.data(), y.data());
    expect_same_bits(y, one, wt);
    if (s.ldx == s.dim && s.ldy == s.dim) {  // in place
      std::vector<float> xy = x;
      run(ctx, xy.data(), xy.data());
      expect_same_bits(xy, one, wt + ", in place");
    }
  }
}

std::string shape_name(const char* op, const NormShape& s) {
  return std::string(op) + " " + std::to_string(s.rows) + " x " + std::to_string(s.dim) + " ldx " +
         std::to_string(s.ldx) + " ldy " + std::to_string(s.ldy);
}

TEST(RmsNorm, ThreadCountsGiveTheSameBits) {
  for (const NormShape& s : kThreadedShapes) {
    const std::vector<float> x =
        random_floats(size_t(s.rows * s.ldx), uint32_t(s.rows + s.dim), -3.f, 3.f);
    const std::vector<float> w = random_floats(size_t(s.dim), uint32_t(s.dim + 1), 0.5f, 1.5f);
    std::vector<float> want = sentinel_output(s);
    ref::rms_norm(x.data(), s.rows, s.dim, s.ldx, w.data(), 1e-5f, want.data(), s.ldy);
    check_thread_counts(s, shape_name("rms_norm", s), x, want, 1e-6,
                        [&](Context& ctx, const float* in, float* out) {
                          rms_norm(ctx, in, s.rows, s.dim, s.ldx, w.data(), 1e-5f, out, s.ldy);
                        });
  }
}

TEST(LayerNorm, ThreadCountsGiveTheSameBits) {
  for (const NormShape& s : kThreadedShapes) {
    for (bool bias : {false, true}) {
      const std::vector<float> x =
          random_floats(size_t(s.rows * s.ldx), uint32_t(s.rows * 3 + s.dim), -2.f, 4.f);
      const std::vector<float> w = random_floats(size_t(s.dim), uint32_t(s.dim + 1));
      const std::vector<float> b = random_floats(size_t(s.dim), uint32_t(s.dim + 2));
      const float* bp = bias ? b.data() : nullptr;
      std::vector<float> want = sentinel_output(s);
      ref::layer_norm(x.data(), s.rows, s.dim, s.ldx, w.data(), bp, 1e-5f, want.data(), s.ldy);
      check_thread_counts(s, shape_name("layer_norm", s) + (bias ? " with bias" : " without bias"),
                          x, want, 1e-5, [&](Context& ctx, const float* in, float* out) {
                            layer_norm(ctx, in, s.rows, s.dim, s.ldx, w.data(), bp, 1e-5f, out,
                                       s.ldy);
                          });
    }
  }
}

TEST(Norm, RejectsBadShapes) {
  Context ctx(1);
  const float x[4] = {}, w[4] = {};
  float y[4];
  EXPECT_THROW(rms_norm(ctx, x, 1, 4, 3, w, 1e-5f, y, 4), Error);
  EXPECT_THROW(layer_norm(ctx, x, 1, 0, 4, w, nullptr, 1e-5f, y, 4), Error);
}

}  // namespace
}  // namespace yopo::ops
