// The int8 weight mode: per-row weight quantization (worked by hand), dynamic per-row activation
// quantization, and ops::matmul with I8 weights on every kernel (oneDNN, AVX512-VNNI, AVX2)
// against a scalar reference computed here from the same quantized values, and against the f32
// product within the quantization error bound.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "ops/context.h"
#include "ops/matmul.h"
#include "ops/matmul_int8.h"
#include "ops/weights.h"
#include "ops_test_util.h"

namespace yopo::ops {
namespace {

using test::random_floats;

// ---------------------------------------------------------------------------------------------
// Weight quantization.

TEST(Int8Weights, QuantizeWorkedByHand) {
  // Row 0: max 127 -> scale exactly 1: 2.5 is a tie (to even: 2), -3.4 -> -3, 0.49 -> 0.
  // Row 1: zeros -> scale 0, zeros.
  // Row 2: max 254 -> scale 2: -5/2 = -2.5 -> -2 (even), 7/2 = 3.5 -> 4, 1/2 = 0.5 -> 0.
  // Row 3: max 1 -> scale 1/127: 0.1 * 127 = 12.7 -> 13, -1 -> -127.
  const std::vector<float> w = {127.0f, -3.4f, 2.5f, 0.49f,  //
                                0.0f,   0.0f,  0.0f, 0.0f,   //
                                254.0f, -5.0f, 7.0f, 1.0f,   //
                                1.0f,   -1.0f, 0.1f, 0.0f};
  const WeightMatrix m = WeightMatrix::quantize_int8(w.data(), 4, 4);
  EXPECT_EQ(m.dtype, DType::I8);
  ASSERT_EQ(m.scales.size(), 4u);
  EXPECT_EQ(m.scales[0], 1.0f);
  EXPECT_EQ(m.scales[1], 0.0f);
  EXPECT_EQ(m.scales[2], 2.0f);
  EXPECT_EQ(m.scales[3], 1.0f / 127.0f);
  const int8_t want[16] = {127, -3, 2, 0, 0, 0, 0, 0, 127, -2, 4, 0, 127, -127, 13, 0};
  const int8_t* q = m.data.as<int8_t>();
  for (int i = 0; i < 16; ++i) EXPECT_EQ(q[i], want[i]) << "element " << i;
  ASSERT_NE(m.row_sums(), nullptr);
  EXPECT_EQ(std::vector<int32_t>(m.row_sums(), m.row_sums() + 4),
            (std::vector<int32_t>{127 - 3 + 2, 0, 127 - 2 + 4, 127 - 127 + 13}));
  EXPECT_EQ(m.bytes(), 64 + 4 * 4 + 4 * 4);  // values (padded to 64), row sums, scales

  // Dequantized row 2: q * 2.
  std::vector<float> r(4);
  m.row_to_f32(2, r.data());
  EXPECT_EQ(r, (std::vector<float>{254.0f, -4.0f, 8.0f, 0.0f}));

  // from_f32 with an I8 target is the same quantization.
  const WeightMatrix f = WeightMatrix::from_f32(w.data(), 4, 4, DType::I8);
  EXPECT_EQ(f.scales, m.scales);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(f.data.as<int8_t>()[i], want[i]);
  EXPECT_EQ(weight_element_bytes(DType::I8), 1);
}

TEST(Int8Weights, RoundTripErrorIsAtMostHalfAStep) {
  const int64_t rows = 7, cols = 53;
  const std::vector<float> w = random_floats(size_t(rows * cols), 5, -3.0f, 3.0f);
  const WeightMatrix m = WeightMatrix::quantize_int8(w.data(), rows, cols);
  std::vector<float> back(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0;
    for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(w[size_t(r * cols + c)]));
    EXPECT_EQ(m.scales[size_t(r)], amax / 127.0f);
    m.row_to_f32(r, back.data());
    for (int64_t c = 0; c < cols; ++c) {
      // |w - q s| <= s / 2, plus the float rounding of w / s and of q * s.
      const double err = std::fabs(double(back[size_t(c)]) - w[size_t(r * cols + c)]);
      EXPECT_LE(err, 0.5 * m.scales[size_t(r)] * (1 + 1e-5) + 1e-6 * amax) << r << "," << c;
    }
  }
}

TEST(Int8Weights, ViewsCarryTheirRowsScales) {
  const int64_t rows = 5, cols = 9;
  const std::vector<float> w = random_floats(size_t(rows * cols), 6);
  const WeightMatrix m = WeightMatrix::quantize_int8(w.data(), rows, cols);
  const WeightView v = m.view(1, 3, 2, 4);
  EXPECT_EQ(v.dtype, DType::I8);
  EXPECT_EQ(v.rows, 3);
  EXPECT_EQ(v.cols, 4);
  EXPECT_EQ(v.ld, cols);
  EXPECT_EQ(static_cast<const int8_t*>(v.data), m.data.as<int8_t>() + 1 * cols + 2);
  EXPECT_EQ(v.scales, m.scales.data() + 1);
  EXPECT_EQ(v.row_sums, nullptr);                // not whole rows
  const WeightView col = m.view(0, rows, 4, 5);  // a column view keeps every row's scale
  EXPECT_EQ(col.scales, m.scales.data());
  EXPECT_EQ(col.row_sums, nullptr);
  const WeightView whole = m.view(2, 3, 0, cols);  // whole rows: their sums too
  EXPECT_EQ(whole.scales, m.scales.data() + 2);
  EXPECT_EQ(whole.row_sums, m.row_sums() + 2);
  for (int64_t r = 0; r < rows; ++r) {
    int32_t sum = 0;
    for (int64_t c = 0; c < cols; ++c) sum += m.data.as<int8_t>()[r * cols + c];
    EXPECT_EQ(m.row_sums()[r], sum);
  }
  // F32 / BF16 views carry no scales.
  const WeightMatrix f = WeightMatrix::from_f32(w.data(), rows, cols, DType::F32);
  EXPECT_EQ(f.view(1, 2, 0, 3).scales, nullptr);
  EXPECT_EQ(f.full().row_sums, nullptr);
  EXPECT_EQ(f.row_sums(), nullptr);
  EXPECT_TRUE(f.scales.empty());
}

TEST(Int8Weights, NonFiniteWeightsThrow) {
  std::vector<float> w = {1.0f, 2.0f, 3.0f, 4.0f};
  w[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(WeightMatrix::quantize_int8(w.data(), 2, 2), Error);
  w[3] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(WeightMatrix::quantize_int8(w.data(), 2, 2), Error);
  EXPECT_THROW(WeightMatrix::quantize_int8(w.data(), -1, 2), Error);
}

// ---------------------------------------------------------------------------------------------
// Activation quantization.

TEST(Int8Activations, QuantizeRowsWorkedByHand) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // Row 0: max 254 -> scale 2: 3/2 = 1.5 -> 2, 5/2 = 2.5 -> 2 (ties to even), -7/2 -> -4.
  // Row 1: zeros. Rows 2, 3: a NaN / an inf -> scale NaN and zeros.
  const int64_t K = 5, ldx = 6;
  const std::vector<float> x = {-254.0f, 3.0f, 5.0f, -7.0f, 0.0f, 99.0f,  //
                                0.0f,    0.0f, 0.0f, 0.0f,  0.0f, 99.0f,  //
                                1.0f,    nan,  2.0f, 0.0f,  0.0f, 99.0f,  //
                                1.0f,    2.0f, 3.0f, -inf,  0.0f, 99.0f};
  std::vector<int8_t> q(4 * K, 55);
  std::vector<float> s(4);
  quantize_rows_int8(x.data(), 4, K, ldx, q.data(), K, s.data());
  EXPECT_EQ(s[0], 2.0f);
  EXPECT_EQ(s[1], 0.0f);
  EXPECT_TRUE(std::isnan(s[2]));
  EXPECT_TRUE(std::isnan(s[3]));
  const std::vector<int8_t> want = {-127, 2, 2, -4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(q, want);
}

// Magnitudes at the ends of the float range, each row long enough (40) for the vector body.
TEST(Int8Activations, TinyAndHugeRows) {
  const int64_t K = 40;
  const float dmin = std::numeric_limits<float>::denorm_min();
  const float fmax = std::numeric_limits<float>::max();
  std::vector<float> x(size_t(4 * K), 0.0f);
  // Row 0: 3 * denorm_min / 127 rounds to 0: the scale underflows, the row quantizes as zeros.
  x[5] = 3 * dmin;
  x[K - 1] = -dmin;
  // Row 1: +-FLT_MAX: scale FLT_MAX / 127 (no overflow), values +-127.
  x[size_t(K + 3)] = fmax;
  x[size_t(K + 38)] = -fmax;
  // Row 2: tiny but normal: 1e-30 -> 127, 0.25e-30 -> 31.75 -> 32.
  x[size_t(2 * K + 0)] = 1e-30f;
  x[size_t(2 * K + 39)] = 0.25e-30f;
  // Row 3: a subnormal scale (1e-40 / 127, held with ~10 significant bits): 1e-40 -> 127,
  // -2.5e-41 -> -31.75 (within 0.1% of it) -> -32.
  x[size_t(3 * K + 7)] = 1e-40f;
  x[size_t(3 * K + 8)] = -2.5e-41f;
  std::vector<int8_t> q(size_t(4 * K), 55);
  std::vector<float> s(4, -1.0f);
  quantize_rows_int8(x.data(), 4, K, K, q.data(), K, s.data());
  EXPECT_EQ(s[0], 0.0f);
  for (int64_t k = 0; k < K; ++k) EXPECT_EQ(q[size_t(k)], 0) << k;
  EXPECT_EQ(s[1], fmax / 127.0f);
  EXPECT_TRUE(std::isfinite(s[1]));
  EXPECT_EQ(q[size_t(K + 3)], 127);
  EXPECT_EQ(q[size_t(K + 38)], -127);
  EXPECT_EQ(q[size_t(K + 4)], 0);
  EXPECT_EQ(s[2], 1e-30f / 127.0f);
  EXPECT_EQ(q[size_t(2 * K)], 127);
  EXPECT_EQ(q[size_t(2 * K + 39)], 32);
  EXPECT_GT(s[3], 0.0f);
  EXPECT_LT(s[3], std::numeric_limits<float>::min());  // subnormal
  EXPECT_EQ(q[size_t(3 * K + 7)], 127);
  EXPECT_EQ(q[size_t(3 * K + 8)], -32);

  // The same rows as weights: per-row scales alike, the underflowing row gives scale 0.
  const WeightMatrix m = WeightMatrix::quantize_int8(x.data(), 4, K);
  EXPECT_EQ(m.scales, s);
  EXPECT_EQ(std::vector<int8_t>(m.data.as<int8_t>(), m.data.as<int8_t>() + 4 * K), q);
  EXPECT_EQ(m.row_sums()[0], 0);
  EXPECT_EQ(m.row_sums()[1], 0);
  EXPECT_EQ(m.row_sums()[2], 127 + 32);

  // A product of the underflowing row is 0, of the huge rows finite where the true result is.
  Context ctx(1);
  const std::vector<float> ones(size_t(K), 1.0f);
  const WeightMatrix w1 = WeightMatrix::quantize_int8(ones.data(), 1, K);
  std::vector<float> y(4, -1.0f);
  matmul(ctx, x.data(), 4, K, w1.full(), y.data(), 1);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], 0.0f);  // 127 - 127 = 0 exactly: no inf - inf
  EXPECT_NEAR(y[2], 1.25e-30, 1.25e-30 * 0.01);
}

// Long rows (vector body and scalar tail) against the definition evaluated in double: equal
// except where x / s lies within float rounding of a half-integer.
TEST(Int8Activations, QuantizeRowsMatchesTheDefinition) {
  for (int64_t K : {1, 7, 31, 32, 33, 100, 1000}) {
    const int64_t M = 3, ldx = K + 3;
    const std::vector<float> x = random_floats(size_t(M * ldx), uint32_t(K), -4.0f, 4.0f);
    std::vector<int8_t> q(size_t(M * K));
    std::vector<float> s(static_cast<size_t>(M));
    quantize_rows_int8(x.data(), M, K, ldx, q.data(), K, s.data());
    for (int64_t m = 0; m < M; ++m) {
      float amax = 0;
      for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(x[size_t(m * ldx + k)]));
      ASSERT_EQ(s[size_t(m)], amax / 127.0f) << "K=" << K;
      for (int64_t k = 0; k < K; ++k) {
        const double t = double(x[size_t(m * ldx + k)]) / double(s[size_t(m)]);
        const double want = std::nearbyint(t);
        const int got = q[size_t(m * K + k)];
        const bool near_tie = std::fabs(std::fabs(t - std::trunc(t)) - 0.5) < 1e-4;
        if (!near_tie) {
          EXPECT_EQ(got, int(want)) << "K=" << K << " m=" << m << " k=" << k;
        } else {
          EXPECT_LE(std::fabs(got - t), 0.5 + 1e-4);
        }
        EXPECT_LE(std::abs(got), 127);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Products.

struct Case {
  int64_t M, K, N;
  int64_t x_pad, y_pad;  // extra row stride of x and y
  bool accumulate;
  int64_t r0, c0, rows_extra, cols_extra;  // view of a larger matrix
};

std::string name(const Case& c) {
  return "M=" + std::to_string(c.M) + " K=" + std::to_string(c.K) + " N=" + std::to_string(c.N) +
         (c.accumulate ? " acc" : "") + " view@(" + std::to_string(c.r0) + "," +
         std::to_string(c.c0) + ")";
}

// The kernel settings: oneDNN above the small-M threshold or the engine's kernel for every M,
// with or without the AVX-512 paths.
struct Setting {
  const char* what;
  bool avx512;
  bool own_for_all;
};
const Setting kSettings[] = {{"default", true, false},
                             {"own kernel, AVX-512", true, true},
                             {"AVX2", false, false},
                             {"own kernel, AVX2", false, true}};

// Runs one case on one setting and compares with (a) the scalar reference of the same
// quantized values (exact integer sums; float rounding of the scaling only) and (b) the double
// product of the unquantized values within the quantization error bound.
void run_case(const Case& c, const Setting& st) {
  SCOPED_TRACE(name(c) + " [" + st.what + "]");
  const int64_t wrows = c.N + c.r0 + c.rows_extra, wcols = c.K + c.c0 + c.cols_extra;
  const std::vector<float> wf =
      random_floats(size_t(wrows * wcols), uint32_t(c.K * 7 + c.N), -1, 1);
  const WeightMatrix wm = WeightMatrix::quantize_int8(wf.data(), wrows, wcols);
  const WeightView w = wm.view(c.r0, c.N, c.c0, c.K);
  const int64_t ldx = c.K + c.x_pad, ldy = c.N + c.y_pad;
  const std::vector<float> x = random_floats(size_t(c.M * ldx), uint32_t(c.M * 13 + c.K), -2, 2);
  const std::vector<float> y0 = random_floats(size_t(c.M * ldy), 99, -5, 5);
  std::vector<float> y = y0;

  Context ctx(2);
  ctx.set_avx512(st.avx512);
  if (st.own_for_all) ctx.set_matmul_small_m(1 << 20);
  matmul(ctx, x.data(), c.M, ldx, w, y.data(), ldy, c.accumulate);

  // The same quantized activations the kernel uses.
  std::vector<int8_t> qx(size_t(c.M * c.K));
  std::vector<float> sx(size_t(c.M));
  quantize_rows_int8(x.data(), c.M, c.K, ldx, qx.data(), c.K, sx.data());
  const int8_t* qw = static_cast<const int8_t*>(w.data);
  int misses = 0, bound_misses = 0;
  for (int64_t m = 0; m < c.M; ++m) {
    for (int64_t n = 0; n < c.N; ++n) {
      int64_t acc = 0;
      double exact = 0, bound = 0;
      const double s_w = w.scales[n], s_x = sx[size_t(m)];
      for (int64_t k = 0; k < c.K; ++k) {
        acc += int64_t(qx[size_t(m * c.K + k)]) * int64_t(qw[n * w.ld + k]);
        const double xv = x[size_t(m * ldx + k)], wv = wf[size_t((c.r0 + n) * wcols + c.c0 + k)];
        exact += xv * wv;
        // x = qx sx + ex, w = qw sw + ew with |ex| <= sx/2, |ew| <= sw/2, so
        // |x w - qx sx qw sw| = |x ew + ex w - ex ew| <= |x| sw/2 + |w| sx/2 + sx sw/4.
        bound += std::fabs(xv) * s_w / 2 + std::fabs(wv) * s_x / 2 + s_x * s_w / 4;
      }
      const double term = double(acc) * s_x * s_w;
      const double base = c.accumulate ? double(y0[size_t(m * ldy + n)]) : 0.0;
      const double got = y[size_t(m * ldy + n)];
      // float(acc), sx * sw and their product each round once (3 ulp of the term), then the
      // accumulation rounds once more.
      const double tol = 4e-7 * std::fabs(term) + 1.2e-7 * std::fabs(base + term) + 1e-30;
      if (std::fabs(got - (base + term)) > tol && ++misses <= 5)
        ADD_FAILURE() << "y[" << m << "," << n << "] = " << got << ", reference " << base + term
                      << " (integer sum " << acc << ")";
      // Against the unquantized product: the bound above plus float slack.
      const double f32_slack = 1e-5 * (std::fabs(exact) + std::fabs(base) + 1);
      if (std::fabs(got - (base + exact)) > bound + f32_slack && ++bound_misses <= 5)
        ADD_FAILURE() << "y[" << m << "," << n << "] = " << got << " is " << got - base - exact
                      << " from the f32 product, above the quantization bound " << bound;
    }
    // Padding between rows is left alone.
    for (int64_t n = c.N; n < ldy; ++n)
      EXPECT_EQ(y[size_t(m * ldy + n)], y0[size_t(m * ldy + n)]) << "padding at " << m << "," << n;
  }
  EXPECT_EQ(misses, 0);
  EXPECT_EQ(bound_misses, 0);
}

TEST(Int8Matmul, MatchesScalarReferenceOnEveryKernel) {
  const std::vector<Case> cases = {
      {1, 67, 37, 0, 0, false, 0, 0, 0, 0},    // decode
      {1, 4096, 13, 5, 3, true, 0, 0, 0, 0},   // long K, accumulate
      {3, 131, 19, 2, 1, false, 0, 0, 0, 0},   // odd everything, strides
      {3, 64, 33, 0, 0, true, 2, 0, 1, 0},     // row view, accumulate
      {5, 133, 51, 3, 4, false, 0, 0, 0, 0},   // just above the small-M threshold
      {5, 77, 29, 0, 2, true, 0, 21, 0, 9},    // column view (pruned Wo / W_down)
      {64, 333, 65, 7, 5, false, 0, 0, 0, 0},  // prefill-like
      {64, 257, 97, 1, 3, true, 3, 11, 2, 5},  // row and column view, accumulate
      {17, 1, 3, 0, 0, false, 0, 0, 0, 0},     // K = 1
  };
  for (const Setting& st : kSettings) {
    if (st.avx512 && !Context::cpu_has_avx512_bf16()) continue;
    for (const Case& c : cases) run_case(c, st);
  }
}

TEST(Int8Matmul, NanRowsStayNanAndOthersAreUntouched) {
  const int64_t M = 6, K = 40, N = 10;
  const std::vector<float> wf = random_floats(size_t(N * K), 3);
  const WeightMatrix wm = WeightMatrix::quantize_int8(wf.data(), N, K);
  std::vector<float> x = random_floats(size_t(M * K), 4);
  x[size_t(2 * K + 5)] = std::numeric_limits<float>::quiet_NaN();
  for (int64_t small : {int64_t(4), int64_t(1 << 20)}) {
    Context ctx(2);
    ctx.set_matmul_small_m(small);
    std::vector<float> y(size_t(M * N));
    matmul(ctx, x.data(), M, K, wm.full(), y.data(), N);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n)
        EXPECT_EQ(std::isnan(y[size_t(m * N + n)]), m == 2) << m << "," << n;
  }
}

TEST(Int8Matmul, ZeroRowsGiveZeros) {
  const int64_t M = 6, K = 24, N = 8;
  std::vector<float> wf = random_floats(size_t(N * K), 8);
  std::fill(wf.begin(), wf.begin() + K, 0.0f);  // weight row 0 is zero: scale 0
  const WeightMatrix wm = WeightMatrix::quantize_int8(wf.data(), N, K);
  std::vector<float> x = random_floats(size_t(M * K), 9);
  std::fill(x.begin() + K, x.begin() + 2 * K, 0.0f);  // x row 1 is zero
  Context ctx(2);
  std::vector<float> y(size_t(M * N), 7.0f);
  matmul(ctx, x.data(), M, K, wm.full(), y.data(), N);
  for (int64_t m = 0; m < M; ++m) {
    EXPECT_EQ(y[size_t(m * N)], 0.0f);
    if (m == 1) {
      for (int64_t n = 0; n < N; ++n) EXPECT_EQ(y[size_t(m * N + n)], 0.0f);
    }
  }
}

TEST(Int8Matmul, RejectsBadInput) {
  const std::vector<float> wf = random_floats(12, 1);
  const WeightMatrix wm = WeightMatrix::quantize_int8(wf.data(), 3, 4);
  std::vector<float> x(8, 1.0f), y(6);
  Context ctx(1);
  WeightView bad = wm.full();
  bad.scales = nullptr;
  EXPECT_THROW(matmul(ctx, x.data(), 2, 4, bad, y.data(), 3), Error);
  EXPECT_THROW(matmul(ctx, x.data(), 2, 3, wm.full(), y.data(), 3), Error);  // ldx < K
  // K above the int32-exact limit.
  const int64_t K = kMaxInt8K + 1;
  const std::vector<float> big(size_t(K), 0.5f);
  const WeightMatrix wb = WeightMatrix::quantize_int8(big.data(), 1, K);
  float out = 0;
  EXPECT_THROW(matmul(ctx, big.data(), 1, K, wb.full(), &out, 1), Error);
}

// Primitives are cached per shape like the f32/bf16 ones, and do not collide with them.
TEST(Int8Matmul, CachesPrimitivesPerShape) {
  if (!cpu_has_vnni()) GTEST_SKIP() << "oneDNN's int8 path needs VNNI";
  const int64_t K = 32, N = 16;
  const std::vector<float> wf = random_floats(size_t(N * K), 2);
  const WeightMatrix wi = WeightMatrix::quantize_int8(wf.data(), N, K);
  const WeightMatrix wf32 = WeightMatrix::from_f32(wf.data(), N, K, DType::F32);
  const std::vector<float> x = random_floats(size_t(40 * K), 3);
  std::vector<float> y(size_t(40 * N));
  Context ctx(2);
  matmul(ctx, x.data(), 20, K, wi.full(), y.data(), N);
  EXPECT_EQ(ctx.cached_matmuls(), 1u);
  matmul(ctx, x.data(), 20, K, wi.full(), y.data(), N);
  EXPECT_EQ(ctx.cached_matmuls(), 1u);
  matmul(ctx, x.data(), 20, K, wf32.full(), y.data(), N);
  EXPECT_EQ(ctx.cached_matmuls(), 2u);
  matmul(ctx, x.data(), 40, K, wi.full(), y.data(), N);
  EXPECT_EQ(ctx.cached_matmuls(), 3u);
}

}  // namespace
}  // namespace yopo::ops
