#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "ops/weights.h"
#include "unit/ops_test_util.h"

namespace yopo::ops {
namespace {

// bfloat16 bit patterns worked out from the format: the upper 16 bits of the float, rounded to
// nearest even on the lower 16.
TEST(Weights, Bf16KnownRoundings) {
  const struct {
    uint32_t f32;
    uint16_t bf16;
  } kCases[] = {
      {0x3f800000u, 0x3f80},  // 1.0
      {0xc0000000u, 0xc000},  // -2.0
      {0x3f808000u, 0x3f80},  // tie, even stays
      {0x3f818000u, 0x3f82},  // tie, odd rounds up
      {0x3f807fffu, 0x3f80},  // just below the tie
      {0x3f808001u, 0x3f81},  // just above the tie
      {0x7f7fffffu, 0x7f80},  // FLT_MAX rounds to infinity
      {0x7f800000u, 0x7f80},  // +inf
      {0xff800000u, 0xff80},  // -inf
      {0x7fc00001u, 0x7fc0},  // quiet NaN
      {0x7f800001u, 0x7fc0},  // signalling NaN comes back quiet
      {0x00018000u, 0x0002},  // subnormal tie, odd rounds up
      {0x00008000u, 0x0000},  // subnormal tie, even stays
      {0x80000000u, 0x8000},  // -0
  };
  std::vector<float> in;
  for (const auto& c : kCases) in.push_back(f32_from_bits(c.f32));
  // Long enough to pass through the vector loops, with the cases at several offsets.
  for (int64_t offset : {0, 3, 17, 35}) {
    std::vector<float> buf(size_t(offset), 0.5f);
    for (int rep = 0; rep < 4; ++rep) buf.insert(buf.end(), in.begin(), in.end());
    std::vector<uint16_t> out(buf.size());
    round_to_bf16(buf.data(), out.data(), int64_t(buf.size()));
    for (size_t i = 0; i < buf.size(); ++i) {
      const size_t k = i < size_t(offset) ? SIZE_MAX : (i - size_t(offset)) % in.size();
      const uint16_t want = k == SIZE_MAX ? 0x3f00 : kCases[k].bf16;
      EXPECT_EQ(out[i], want) << "input bits 0x" << std::hex << bits_from_f32(buf[i]);
    }
  }
}

TEST(Weights, RoundToBf16MatchesScalar) {
  for (int64_t n : {1, 15, 31, 32, 33, 100, 1000}) {
    std::vector<float> x = test::random_floats(size_t(n), uint32_t(n), -1e3f, 1e3f);
    x[0] = 1e-39f;  // subnormal in the first chunk
    std::vector<uint16_t> out(static_cast<size_t>(n));
    round_to_bf16(x.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(out[size_t(i)], f32_to_bf16(x[size_t(i)])) << i;
  }
}

TEST(Weights, FromF32AndViews) {
  const int64_t rows = 5, cols = 7;
  const std::vector<float> w = test::random_floats(size_t(rows * cols), 3);
  const WeightMatrix f = WeightMatrix::from_f32(w.data(), rows, cols, DType::F32);
  const WeightMatrix b = WeightMatrix::from_f32(w.data(), rows, cols, DType::BF16);
  EXPECT_EQ(f.dtype, DType::F32);
  EXPECT_EQ(b.dtype, DType::BF16);
  for (int64_t i = 0; i < rows * cols; ++i) {
    EXPECT_EQ(f.data.as<float>()[i], w[size_t(i)]);
    EXPECT_EQ(b.data.as<uint16_t>()[i], f32_to_bf16(w[size_t(i)]));
  }
  const WeightView v = b.view(1, 3, 2, 4);
  EXPECT_EQ(v.rows, 3);
  EXPECT_EQ(v.cols, 4);
  EXPECT_EQ(v.ld, cols);
  EXPECT_EQ(static_cast<const uint16_t*>(v.data), b.data.as<uint16_t>() + 1 * cols + 2);
  const WeightView full = f.full();
  EXPECT_EQ(full.data, f.data.data());
  EXPECT_EQ(full.rows, rows);
  EXPECT_EQ(full.ld, cols);
  EXPECT_THROW(b.view(3, 3, 0, 1), Error);
  EXPECT_THROW(b.view(0, 1, 5, 3), Error);
  EXPECT_THROW(b.view(-1, 1, 0, 1), Error);
  EXPECT_THROW(WeightMatrix::from_f32(w.data(), rows, cols, DType::F16), Error);
}

TEST(Weights, FromBf16CopiesBits) {
  const uint16_t bits[6] = {0x3f80, 0x4000, 0xc040, 0x0001, 0x7fc0, 0x8000};
  const WeightMatrix m = WeightMatrix::from_bf16(bits, 2, 3);
  EXPECT_EQ(m.dtype, DType::BF16);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(m.data.as<uint16_t>()[i], bits[i]);
}

}  // namespace
}  // namespace yopo::ops
