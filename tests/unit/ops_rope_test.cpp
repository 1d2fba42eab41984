#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/error.h"
#include "ops/reference.h"
#include "ops/rope.h"
#include "unit/ops_test_util.h"

namespace yopo::ops {
namespace {

using test::expect_close;
using test::random_floats;

// head_dim 4, theta 10000: inv_freq = (10000^0, 10000^-1/2) = (1, 0.01). At position 1 the
// angles are 1 and 0.01; element i pairs with i + 2:
//   out0 = x0 cos1 - x2 sin1, out2 = x2 cos1 + x0 sin1,
//   out1 = x1 cos.01 - x3 sin.01, out3 = x3 cos.01 + x1 sin.01.
TEST(Rope, HandComputedTinyCase) {
  const double cos1 = 0.5403023058681398, sin1 = 0.8414709848078965;
  const double cos01 = 0.9999500004166653, sin01 = 0.009999833334166664;
  float x[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  const int32_t pos = 1;
  Rope rope(4, 10000.0, RopeScaling(), 2048);
  rope.apply(x, 1, 1, 4, &pos, 2);
  EXPECT_NEAR(x[0], 1 * cos1 - 3 * sin1, 1e-6);
  EXPECT_NEAR(x[2], 3 * cos1 + 1 * sin1, 1e-6);
  EXPECT_NEAR(x[1], 2 * cos01 - 4 * sin01, 1e-6);
  EXPECT_NEAR(x[3], 4 * cos01 + 2 * sin01, 1e-6);
  const std::vector<float> inv = rope.inv_freq(2);
  ASSERT_EQ(inv.size(), 2u);
  EXPECT_EQ(inv[0], 1.0f);
  EXPECT_NEAR(inv[1], 0.01, 1e-9);
}

TEST(Rope, PositionZeroIsIdentity) {
  std::vector<float> x = random_floats(2 * 64, 1);
  const std::vector<float> orig = x;
  const int32_t pos[2] = {0, 0};
  Rope(32, 500000.0, RopeScaling(), 4096).apply(x.data(), 2, 2, 64, pos, 2);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(x[i], orig[i]);
}

// Expected inverse frequencies written from the formulas in double.
std::vector<double> base_freqs(int64_t d, double base) {
  std::vector<double> f;
  for (int64_t i = 0; i < d / 2; ++i) f.push_back(1.0 / std::pow(base, double(2 * i) / double(d)));
  return f;
}

// Rotates one row of heads by angle pos_value * freq[i] per pair, in double.
void rotate_expected(float* x, int64_t n_heads, int64_t d, double pos_value,
                     const std::vector<double>& freq) {
  for (int64_t h = 0; h < n_heads; ++h) {
    float* a = x + h * d;
    for (int64_t i = 0; i < d / 2; ++i) {
      const double ang = pos_value * freq[size_t(i)];
      const double x1 = a[i], x2 = a[i + d / 2];
      a[i] = float(x1 * std::cos(ang) - x2 * std::sin(ang));
      a[i + d / 2] = float(x2 * std::cos(ang) + x1 * std::sin(ang));
    }
  }
}

// Applies rope to rows at the given positions and compares with the expected rotation.
void check_against(const Rope& rope, int64_t n_heads, const std::vector<int32_t>& pos,
                   int64_t seq_len, const std::vector<double>& freq, double pos_divisor,
                   const std::string& what) {
  const int64_t d = rope.head_dim(), width = n_heads * d, ld = width + 3;
  const int64_t rows = int64_t(pos.size());
  std::vector<float> x = random_floats(size_t(rows * ld), uint32_t(rows + d));
  std::vector<float> want = x;
  rope.apply(x.data(), rows, n_heads, ld, pos.data(), seq_len);
  for (int64_t r = 0; r < rows; ++r)
    rotate_expected(want.data() + r * ld, n_heads, d, pos[size_t(r)] / pos_divisor, freq);
  // The angle pos * freq is formed in float32 as HF does: relative error ~1e-7 of the angle.
  const double atol = 2e-7 * (1.0 + *std::max_element(pos.begin(), pos.end()) / pos_divisor);
  for (int64_t r = 0; r < rows; ++r)
    expect_close(x.data() + r * ld, want.data() + r * ld, width, 1e-5, atol,
                 what + " pos " + std::to_string(pos[size_t(r)]));
  // Padding untouched.
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = width; i < ld; ++i) EXPECT_EQ(x[size_t(r * ld + i)], want[size_t(r * ld + i)]);
}

TEST(Rope, NoScalingMatchesFormula) {
  const Rope rope(64, 10000.0, RopeScaling(), 2048);
  check_against(rope, 3, {0, 1, 5, 100, 2047, 3000, 5000}, 10, base_freqs(64, 10000.0), 1.0,
                "none");
}

TEST(Rope, LinearScalingDividesPositions) {
  RopeScaling s;
  s.type = "linear";
  s.factor = 4.0;
  const Rope rope(32, 10000.0, s, 4096);
  check_against(rope, 2, {0, 3, 17, 4000, 4500}, 10, base_freqs(32, 10000.0), 4.0, "linear");
}

TEST(Rope, DynamicNtkChangesBaseBeyondMaxPosition) {
  RopeScaling s;
  s.type = "dynamic";
  s.factor = 2.0;
  const int64_t d = 16, max_pos = 64;
  const Rope rope(d, 10000.0, s, max_pos);
  // Within max_position_embeddings: the plain frequencies.
  check_against(rope, 2, {0, 5, 63}, 64, base_freqs(d, 10000.0), 1.0, "dynamic short");
  // Beyond: base * ((factor * seq_len / max_pos) - (factor - 1)) ^ (d / (d - 2)).
  for (int64_t seq_len : {65, 100, 1000}) {
    const double base = 10000.0 * std::pow(2.0 * double(seq_len) / 64.0 - 1.0, 16.0 / 14.0);
    const std::vector<double> freq = base_freqs(d, base);
    const std::vector<float> inv = rope.inv_freq(seq_len);
    for (size_t i = 0; i < freq.size(); ++i)
      EXPECT_NEAR(inv[i], freq[i], 1e-6 * freq[i]) << "seq_len " << seq_len << " i " << i;
    check_against(rope, 2, {0, 1, 10, int32_t(seq_len - 1)}, seq_len, freq, 1.0,
                  "dynamic seq_len " + std::to_string(seq_len));
  }
}

// Llama 3.1 frequency scaling: wavelength 2 pi / f; short wavelengths (< old_ctx / high) keep
// f, long ones (> old_ctx / low) get f / factor, and in between
// s = (old_ctx / wavelen - low) / (high - low) blends (1 - s) f / factor + s f.
std::vector<double> llama3_freqs(int64_t d, double theta, double factor, double low, double high,
                                 double old_ctx) {
  std::vector<double> f = base_freqs(d, theta);
  for (double& v : f) {
    const double wavelen = 2.0 * std::numbers::pi / v;
    if (wavelen < old_ctx / high) continue;
    if (wavelen > old_ctx / low) {
      v /= factor;
      continue;
    }
    const double s = (old_ctx / wavelen - low) / (high - low);
    v = (1.0 - s) * v / factor + s * v;
  }
  return f;
}

TEST(Rope, Llama3ScalingMatchesFormula) {
  RopeScaling s;
  s.type = "llama3";
  s.factor = 8.0;
  s.low_freq_factor = 1.0;
  s.high_freq_factor = 4.0;
  s.original_max_position = 8192;
  const int64_t d = 128;
  const Rope rope(d, 500000.0, s, 131072);
  const std::vector<double> freq = llama3_freqs(d, 500000.0, 8.0, 1.0, 4.0, 8192.0);
  const std::vector<float> inv = rope.inv_freq(10);
  int low = 0, mid = 0, high = 0;
  for (size_t i = 0; i < freq.size(); ++i) {
    EXPECT_NEAR(inv[i], freq[i], 2e-6 * freq[i]) << i;
    const double wl = 2.0 * std::numbers::pi / base_freqs(d, 500000.0)[i];
    (wl < 2048.0 ? high : wl > 8192.0 ? low : mid)++;
  }
  // The case covers all three bands.
  EXPECT_GT(low, 0);
  EXPECT_GT(mid, 0);
  EXPECT_GT(high, 0);
  check_against(rope, 1, {0, 1, 77, 5000, 20000}, 10, freq, 1.0, "llama3");
}

TEST(Rope, MatchesReferenceForEveryScaling) {
  for (const char* type : {"none", "linear", "dynamic", "llama3"}) {
    RopeScaling s;
    s.type = type;
    s.factor = 3.0;
    s.original_max_position = 256;
    const int64_t d = 24, heads = 3, ld = heads * d + 5, max_pos = 512;
    const Rope rope(d, 10000.0, s, max_pos);
    for (int64_t seq_len : {int64_t(8), int64_t(900)}) {
      const std::vector<int32_t> pos = {0, 2, 7, 300, 511, 899};
      std::vector<float> x = random_floats(pos.size() * size_t(ld), 42);
      std::vector<float> want = x;
      rope.apply(x.data(), int64_t(pos.size()), heads, ld, pos.data(), seq_len);
      ref::rope(want.data(), int64_t(pos.size()), heads, d, ld, pos.data(), 10000.0, s, max_pos,
                seq_len);
      expect_close(x.data(), want.data(), int64_t(x.size()), 1e-5, 1e-6,
                   std::string(type) + " seq_len " + std::to_string(seq_len));
    }
  }
}

TEST(Rope, RejectsBadConfigurations) {
  EXPECT_THROW(Rope(5, 10000.0, RopeScaling(), 100), Error);
  EXPECT_THROW(Rope(8, 0.0, RopeScaling(), 100), Error);
  RopeScaling s;
  s.type = "yarn-ish";
  EXPECT_THROW(Rope(8, 10000.0, s, 100), Error);
  s.type = "linear";
  s.factor = 0.0;
  EXPECT_THROW(Rope(8, 10000.0, s, 100), Error);
  const Rope rope(8, 10000.0, RopeScaling(), 100);
  float x[8] = {};
  const int32_t neg = -1;
  EXPECT_THROW(rope.apply(x, 1, 1, 8, &neg, 1), Error);
  EXPECT_THROW(rope.apply(x, 1, 2, 8, &neg, 1), Error);  // ld too small
}

}  // namespace
}  // namespace yopo::ops
