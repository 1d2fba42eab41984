// Dequantization of GGML quant blocks. Every test first chooses the values a block should
// decode to (scales, quants), computes the expected floats from the format's formula, and
// only then packs the bits, so the expected side never runs our decoder's logic.
#include "io/ggml_quants.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace yopo {
namespace {

using Bytes = std::vector<uint8_t>;

// Writes a 16-bit little-endian value at p.
void put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v & 0xff);
  p[1] = uint8_t(v >> 8);
}

// Sets `width` bits of byte b starting at bit `shift` to v.
void put_bits(uint8_t& b, int shift, int width, unsigned v) {
  const unsigned mask = ((1u << width) - 1u) << shift;
  b = uint8_t((b & ~mask) | ((v << shift) & mask));
}

std::vector<float> decode(DType t, const Bytes& data, int64_t n) {
  std::vector<float> out(size_t(n), -12345.0f);
  dequantize_row(t, data.data(), out.data(), n);
  return out;
}

// A random half that is finite and not tiny (so that products stay normal), sign included.
uint16_t random_half(std::mt19937& rng) {
  std::uniform_real_distribution<float> mag(-6.0f, 2.0f);  // 2^-6 .. 2^2 magnitudes
  std::bernoulli_distribution neg(0.5);
  float v = std::exp2(mag(rng));
  if (neg(rng)) v = -v;
  return f32_to_f16(v);
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want,
                  const std::vector<double>& scale, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = 2e-7 * scale[i] + 1e-30;
    ASSERT_NEAR(got[i], want[i], tol) << what << " value " << i;
  }
}

// Special patterns for the quants of a block: 0 = random, 1 = all minimum, 2 = all maximum.
int pattern_of(int block) {
  return block < 3 ? block : 0;
}

// ---------------------------------------------------------------- 32-value types

// Q4_0: 18 bytes; d (f16); byte j holds value j in its low nibble, value j + 16 in its high.
Bytes pack_q4_0(uint16_t d, const int q[32]) {
  Bytes b(18, 0);
  put16(&b[0], d);
  for (int v = 0; v < 32; ++v) put_bits(b[2 + v % 16], v < 16 ? 0 : 4, 4, unsigned(q[v]));
  return b;
}

TEST(GgmlQuants, Q4_0Random) {
  std::mt19937 rng(1);
  const int blocks = 40;
  Bytes data;
  std::vector<double> want, scale;
  for (int k = 0; k < blocks; ++k) {
    const uint16_t d = random_half(rng);
    int q[32];
    for (int v = 0; v < 32; ++v) {
      const int p = pattern_of(k);
      q[v] = p == 1 ? 0 : p == 2 ? 15 : int(rng() % 16);
      want.push_back(double(f16_to_f32(d)) * (q[v] - 8));
      scale.push_back(std::fabs(want.back()));
    }
    const Bytes b = pack_q4_0(d, q);
    data.insert(data.end(), b.begin(), b.end());
  }
  expect_close(decode(DType::Q4_0, data, blocks * 32), want, scale, "Q4_0");
}

TEST(GgmlQuants, Q4_0Literal) {
  // d = 0x3c00 = 1.0. qs[0] = 0xF0: value 0 = 0 - 8 = -8, value 16 = 15 - 8 = 7.
  // qs[1] = 0x8A: value 1 = 10 - 8 = 2, value 17 = 8 - 8 = 0. Other bytes 0x88: all 0.
  Bytes b(18, 0x88);
  b[0] = 0x00, b[1] = 0x3c;
  b[2] = 0xF0;
  b[3] = 0x8A;
  const std::vector<float> y = decode(DType::Q4_0, b, 32);
  EXPECT_EQ(y[0], -8.0f);
  EXPECT_EQ(y[16], 7.0f);
  EXPECT_EQ(y[1], 2.0f);
  EXPECT_EQ(y[17], 0.0f);
  for (int i : {2, 10, 15, 18, 31}) EXPECT_EQ(y[i], 0.0f) << i;
  // d = 0xc000 = -2.0, every byte 0x00: every value is -2 * (0 - 8) = 16.
  Bytes z(18, 0);
  z[0] = 0x00, z[1] = 0xc0;
  for (float v : decode(DType::Q4_0, z, 32)) EXPECT_EQ(v, 16.0f);
}

// Q4_1: 20 bytes; d, m (f16); nibbles as in Q4_0. x = d * q + m.
Bytes pack_q4_1(uint16_t d, uint16_t m, const int q[32]) {
  Bytes b(20, 0);
  put16(&b[0], d);
  put16(&b[2], m);
  for (int v = 0; v < 32; ++v) put_bits(b[4 + v % 16], v < 16 ? 0 : 4, 4, unsigned(q[v]));
  return b;
}

TEST(GgmlQuants, Q4_1Random) {
  std::mt19937 rng(2);
  const int blocks = 40;
  Bytes data;
  std::vector<double> want, scale;
  for (int k = 0; k < blocks; ++k) {
    const uint16_t d = random_half(rng), m = random_half(rng);
    int q[32];
    for (int v = 0; v < 32; ++v) {
      const int p = pattern_of(k);
      q[v] = p == 1 ? 0 : p == 2 ? 15 : int(rng() % 16);
      const double dq = double(f16_to_f32(d)) * q[v];
      want.push_back(dq + f16_to_f32(m));
      scale.push_back(std::fabs(dq) + std::fabs(f16_to_f32(m)));
    }
    const Bytes b = pack_q4_1(d, m, q);
    data.insert(data.end(), b.begin(), b.end());
  }
  expect_close(decode(DType::Q4_1, data, blocks * 32), want, scale, "Q4_1");
}

TEST(GgmlQuants, Q4_1Literal) {
  // d = 0x4000 = 2.0, m = 0xbc00 = -1.0. qs[0] = 0x3A: value 0 = 2*10 - 1 = 19,
  // value 16 = 2*3 - 1 = 5. Other bytes 0: values 2*0 - 1 = -1.
  Bytes b(20, 0);
  b[1] = 0x40;
  b[3] = 0xbc;
  b[4] = 0x3A;
  const std::vector<float> y = decode(DType::Q4_1, b, 32);
  EXPECT_EQ(y[0], 19.0f);
  EXPECT_EQ(y[16], 5.0f);
  EXPECT_EQ(y[1], -1.0f);
  EXPECT_EQ(y[31], -1.0f);
}

// Q5_0: 22 bytes; d (f16), qh (u32 LE: bit v = fifth bit of value v), 16 nibble bytes.
// x = d * (q - 16), q in 0..31.
Bytes pack_q5(bool with_min, uint16_t d, uint16_t m, const int q[32]) {
  const size_t base = with_min ? 4 : 2;
  Bytes b(base + 4 + 16, 0);
  put16(&b[0], d);
  if (with_min) put16(&b[2], m);
  for (int v = 0; v < 32; ++v) {
    put_bits(b[base + 4 + v % 16], v < 16 ? 0 : 4, 4, unsigned(q[v]) & 15u);
    put_bits(b[base + v / 8], v % 8, 1, unsigned(q[v]) >> 4);
  }
  return b;
}

TEST(GgmlQuants, Q5_0Random) {
  std::mt19937 rng(3);
  const int blocks = 40;
  Bytes data;
  std::vector<double> want, scale;
  for (int k = 0; k < blocks; ++k) {
    const uint16_t d = random_half(rng);
    int q[32];
    for (int v = 0; v < 32; ++v) {
      const int p = pattern_of(k);
      q[v] = p == 1 ? 0 : p == 2 ? 31 : int(rng() % 32);
      want.push_back(double(f16_to_f32(d)) * (q[v] - 16));
      scale.push_back(std::fabs(want.back()));
    }
    const Bytes b = pack_q5(false, d, 0, q);
    ASSERT_EQ(b.size(), 22u);
    data.insert(data.end(), b.begin(), b.end());
  }
  expect_close(decode(DType::Q5_0, data, blocks * 32), want, scale, "Q5_0");
}

TEST(GgmlQuants, Q5_0Literal) {
  // d = 0x3800 = 0.5; qh = 0x00010001 (bits 0 and 16: values 0 and 16 get their fifth bit).
  // qs[0] = 0x0F: value 0 = (15 | 16) - 16 = 15 -> 7.5; value 16 = (0 | 16) - 16 = 0 -> 0.
  // Everything else q = 0: (0 - 16) * 0.5 = -8.
  Bytes b(22, 0);
  b[1] = 0x38;
  b[2] = 0x01;  // qh byte 0
  b[4] = 0x01;  // qh byte 2 (bit 16)
  b[6] = 0x0F;
  const std::vector<float> y = decode(DType::Q5_0, b, 32);
  EXPECT_EQ(y[0], 7.5f);
  EXPECT_EQ(y[16], 0.0f);
  EXPECT_EQ(y[1], -8.0f);
  EXPECT_EQ(y[17], -8.0f);
  EXPECT_EQ(y[31], -8.0f);
}

TEST(GgmlQuants, Q5_1Random) {
  std::mt19937 rng(4);
  const int blocks = 40;
  Bytes data;
  std::vector<double> want, scale;
  for (int k = 0; k < blocks; ++k) {
    const uint16_t d = random_half(rng), m = random_half(rng);
    int q[32];
    for (int v = 0; v < 32; ++v) {
      const int p = pattern_of(k);
      q[v] = p == 1 ? 0 : p == 2 ? 31 : int(rng() % 32);
      const double dq = double(f16_to_f32(d)) * q[v];
      want.push_back(dq + f16_to_f32(m));
      scale.push_back(std::fabs(dq) + std::fabs(f16_to_f32(m)));
    }
    const Bytes b = pack_q5(true, d, m, q);
    ASSERT_EQ(b.size(), 24u);
    data.insert(data.end(), b.begin(), b.end());
  }
  expect_close(decode(DType::Q5_1, data, blocks * 32), want, scale, "Q5_1");
}

TEST(GgmlQuants, Q5_1Literal) {
  // d = 1.0 (0x3c00), m = 0.5 (0x3800), qh = 0x80000000: only value 31 has a fifth bit.
  // qs[15] = 0xF0: value 15 = 0 -> 0.5; value 31 = 15 | 16 = 31 -> 31.5. Others: 0.5.
  Bytes b(24, 0);
  b[1] = 0x3c;
  b[3] = 0x38;
  b[7] = 0x80;  // qh byte 3, bit 7 = bit 31
  b[8 + 15] = 0xF0;
  const std::vector<float> y = decode(DType::Q5_1, b, 32);
  EXPECT_EQ(y[15], 0.5f);
  EXPECT_EQ(y[31], 31.5f);
  EXPECT_EQ(y[0], 0.5f);
  EXPECT_EQ(y[30], 0.5f);
}

// Q8_0: 34 bytes; d (f16), 32 signed bytes. x = d * q.
TEST(GgmlQuants, Q8_0Random) {
  std::mt19937 rng(5);
  const int blocks = 40;
  Bytes data;
  std::vector<double> want, scale;
  for (int k = 0; k < blocks; ++k) {
    const uint16_t d = random_half(rng);
    Bytes b(34, 0);
    put16(&b[0], d);
    for (int v = 0; v < 32; ++v) {
      const int p = pattern_of(k);
      const int q = p == 1 ? -128 : p == 2 ? 127 : int(rng() % 256) - 128;
      b[2 + v] = uint8_t(q & 0xff);  // two's complement
      want.push_back(double(f16_to_f32(d)) * q);
      scale.push_back(std::fabs(want.back()));
    }
    data.insert(data.end(), b.begin(), b.end());
  }
  expect_close(decode(DType::Q8_0, data, blocks * 32), want, scale, "Q8_0");
}

TEST(GgmlQuants, Q8_0Literal) {
  // d = 0xbc00 = -1.0; bytes 0x01, 0xFF (-1), 0x7F (127), 0x80 (-128) -> -1, 1, -127, 128.
  Bytes b(34, 0);
  b[1] = 0xbc;
  b[2] = 0x01, b[3] = 0xFF, b[4] = 0x7F, b[5] = 0x80;
  const std::vector<float> y = decode(DType::Q8_0, b, 32);
  EXPECT_EQ(y[0], -1.0f);
  EXPECT_EQ(y[1], 1.0f);
  EXPECT_EQ(y[2], -127.0f);
  EXPECT_EQ(y[3], 128.0f);
  EXPECT_EQ(y[4], 0.0f);  // -1 * 0 is -0, which compares equal to 0
}

// ---------------------------------------------------------------- K types

// The 12-byte scale/min field of Q4_K and Q5_K, packed from eight 6-bit scales and mins.
// Placement of the six-bit fields:
//   sub-block s < 4: scale in bits 0-5 of byte s, min in bits 0-5 of byte s + 4.
//   sub-block s >= 4: scale low 4 bits in bits 0-3 of byte s + 4, its top 2 bits in bits 6-7
//   of byte s - 4; min low 4 bits in bits 4-7 of byte s + 4, its top 2 bits in bits 6-7 of
//   byte s.
void pack_k_scales(uint8_t* out, const int sc[8], const int mn[8]) {
  std::memset(out, 0, 12);
  for (int s = 0; s < 8; ++s) {
    if (s < 4) {
      put_bits(out[s], 0, 6, unsigned(sc[s]));
      put_bits(out[s + 4], 0, 6, unsigned(mn[s]));
    } else {
      put_bits(out[s + 4], 0, 4, unsigned(sc[s]) & 15u);
      put_bits(out[s - 4], 6, 2, unsigned(sc[s]) >> 4);
      put_bits(out[s + 4], 4, 4, unsigned(mn[s]) & 15u);
      put_bits(out[s], 6, 2, unsigned(mn[s]) >> 4);
    }
  }
}

// Q4_K (144 bytes) or Q5_K (176 bytes) super-block from d, dmin, sub-block scales/mins and
// 256 quants (4 or 5 bits). Value v is in sub-block s = v / 32 at position l = v % 32; its
// low 4 bits are in qs[32 * (s / 2) + l], low nibble when s is even, high when odd. For Q5_K
// the fifth bit is bit s of qh[l].
Bytes pack_k(bool five, uint16_t d, uint16_t dmin, const int sc[8], const int mn[8],
             const int q[256]) {
  Bytes b(five ? 176 : 144, 0);
  put16(&b[0], d);
  put16(&b[2], dmin);
  pack_k_scales(&b[4], sc, mn);
  uint8_t* qh = &b[16];
  uint8_t* qs = five ? &b[48] : &b[16];
  for (int v = 0; v < 256; ++v) {
    const int s = v / 32, l = v % 32;
    put_bits(qs[32 * (s / 2) + l], s % 2 ? 4 : 0, 4, unsigned(q[v]) & 15u);
    if (five) put_bits(qh[l], s, 1, unsigned(q[v]) >> 4);
  }
  return b;
}

void k_random_test(bool five, unsigned seed) {
  std::mt19937 rng(seed);
  const int blocks = 24;
  const int qmax = five ? 31 : 15;
  Bytes data;
  std::vector<double> want, scale;
  for (int k = 0; k < blocks; ++k) {
    const uint16_t d = random_half(rng), dmin = random_half(rng);
    const int p = pattern_of(k);
    int sc[8], mn[8], q[256];
    for (int s = 0; s < 8; ++s) {
      // Pattern blocks use extreme 6-bit values so that the top bits of j >= 4 matter.
      sc[s] = p == 1 ? 0 : p == 2 ? 63 : int(rng() % 64);
      mn[s] = p == 1 ? 63 : p == 2 ? 0 : int(rng() % 64);
    }
    for (int v = 0; v < 256; ++v) {
      q[v] = p == 1 ? 0 : p == 2 ? qmax : int(rng() % (qmax + 1));
      const double a = double(f16_to_f32(d)) * sc[v / 32] * q[v];
      const double m = double(f16_to_f32(dmin)) * mn[v / 32];
      want.push_back(a - m);
      scale.push_back(std::fabs(a) + std::fabs(m));
    }
    const Bytes b = pack_k(five, d, dmin, sc, mn, q);
    data.insert(data.end(), b.begin(), b.end());
  }
  expect_close(decode(five ? DType::Q5_K : DType::Q4_K, data, blocks * 256), want, scale,
               five ? "Q5_K" : "Q4_K");
}

TEST(GgmlQuants, Q4_KRandom) {
  k_random_test(false, 6);
}
TEST(GgmlQuants, Q5_KRandom) {
  k_random_test(true, 7);
}

// Each sub-block alone with a distinct scale and min, to catch mixed-up scale indices.
TEST(GgmlQuants, KScaleIndexing) {
  for (bool five : {false, true}) {
    for (int only = 0; only < 8; ++only) {
      int sc[8] = {}, mn[8] = {}, q[256];
      sc[only] = 37 + only;  // 6-bit values with the top bits set (>= 32)
      mn[only] = 50 - only;
      for (int v = 0; v < 256; ++v) q[v] = (v * 7 + 3) % (five ? 32 : 16);
      const Bytes b = pack_k(five, 0x3c00 /* 1.0 */, 0x3400 /* 0.25 */, sc, mn, q);
      const std::vector<float> y = decode(five ? DType::Q5_K : DType::Q4_K, b, 256);
      for (int v = 0; v < 256; ++v) {
        const int s = v / 32;
        const double want = s == only ? double(sc[s]) * q[v] - 0.25 * mn[s] : 0.0;
        ASSERT_EQ(y[v], float(want))
            << (five ? "Q5_K" : "Q4_K") << " sub-block " << only << " value " << v;
      }
    }
  }
}

TEST(GgmlQuants, Q4_KLiteral) {
  // d = 1.0 (0x3c00), dmin = 0.5 (0x3800).
  // Sub-block 0: scale 1 (scales[0] = 1), min 2 (scales[4] = 2).
  // Sub-block 5: scale 37 = 0b10'0101 -> low 4 bits 5 in scales[9] bits 0-3, top bits 2 in
  //   scales[1] bits 6-7; min 19 = 0b01'0011 -> low 4 bits 3 in scales[9] bits 4-7, top bits
  //   1 in scales[5] bits 6-7. So scales[1] = 0x80, scales[5] = 0x40, scales[9] = 0x35.
  // Sub-block 1 reads scales[1] & 63 = 0 and scales[5] & 63 = 0: all its values are 0.
  // qs[0] = 0x07: value 0 (sub-block 0, low nibble) = 1*1*7 - 0.5*2 = 6;
  //   value 32 (sub-block 1, high nibble 0) = 0.
  // qs[64] = 0xA0: value 128 (sub-block 4, low nibble 0): scale and min 0 -> 0;
  //   value 160 (sub-block 5, high nibble 10) = 1*37*10 - 0.5*19 = 360.5.
  // Other values of sub-block 0: 0 - 1 = -1; of sub-block 5: -9.5.
  Bytes b(144, 0);
  b[1] = 0x3c;
  b[3] = 0x38;
  uint8_t* scales = &b[4];
  scales[0] = 1;
  scales[4] = 2;
  scales[1] = 0x80;
  scales[5] = 0x40;
  scales[9] = 0x35;
  b[16 + 0] = 0x07;
  b[16 + 64] = 0xA0;
  const std::vector<float> y = decode(DType::Q4_K, b, 256);
  EXPECT_EQ(y[0], 6.0f);
  EXPECT_EQ(y[1], -1.0f);
  EXPECT_EQ(y[31], -1.0f);
  EXPECT_EQ(y[32], 0.0f);
  EXPECT_EQ(y[128], 0.0f);
  EXPECT_EQ(y[160], 360.5f);
  EXPECT_EQ(y[161], -9.5f);
  EXPECT_EQ(y[191], -9.5f);
  EXPECT_EQ(y[255], 0.0f);
}

TEST(GgmlQuants, Q5_KLiteral) {
  // d = 1.0, dmin = 1.0. Sub-block 7: scale 63 = 0b11'1111 -> scales[11] bits 0-3 = 15 and
  //   scales[3] bits 6-7 = 3; min 0. So scales[3] = 0xC0, scales[11] = 0x0F.
  // Sub-block 3 reads scales[3] & 63 = 0 and scales[7] & 63 = 0: all zero.
  // Value 255 = sub-block 7, l = 31: low bits in qs[96 + 31] high nibble, fifth bit = bit 7
  //   of qh[31]. qs[127] = 0xF0, qh[31] = 0x80 -> q = 31 -> 63 * 31 = 1953.
  // Value 224 (sub-block 7, l = 0): q = 0 -> 0. Value 127 (sub-block 3, l = 31): qs[127] low
  //   nibble 0, qh[31] bit 3 = 0 -> 0 (and its scale is 0 anyway).
  // qh[0] = 0x01 gives value 0 (sub-block 0) q = 16, but sub-block 0's scale is 0 -> 0.
  Bytes b(176, 0);
  b[1] = 0x3c;
  b[3] = 0x3c;
  b[4 + 3] = 0xC0;
  b[4 + 11] = 0x0F;
  b[16 + 31] = 0x80;
  b[16 + 0] = 0x01;
  b[48 + 127] = 0xF0;
  const std::vector<float> y = decode(DType::Q5_K, b, 256);
  EXPECT_EQ(y[255], 1953.0f);
  EXPECT_EQ(y[224], 0.0f);
  EXPECT_EQ(y[127], 0.0f);
  EXPECT_EQ(y[0], 0.0f);
  // Now give sub-block 0 scale 2 (scales[0] = 2): value 0 becomes 2 * 16 = 32.
  b[4 + 0] = 2;
  EXPECT_EQ(decode(DType::Q5_K, b, 256)[0], 32.0f);
}

// Q6_K (210 bytes): ql[128], qh[64], scales[16] (int8), d (f16). Value v is in half
// h = v / 128 at i = v % 128; quarter k = i / 32, l = i % 32. Its low 4 bits are in
// ql[64 h + l + 32 (k % 2)] (low nibble for k < 2, high for k >= 2), its top 2 bits in bits
// 2k .. 2k+1 of qh[32 h + l]; its scale is scales[8 h + i / 16]. x = d * scale * (q - 32).
Bytes pack_q6_k(uint16_t d, const int sc[16], const int q[256]) {
  Bytes b(210, 0);
  for (int v = 0; v < 256; ++v) {
    const int h = v / 128, i = v % 128, k = i / 32, l = i % 32;
    put_bits(b[64 * h + l + 32 * (k % 2)], k < 2 ? 0 : 4, 4, unsigned(q[v]) & 15u);
    put_bits(b[128 + 32 * h + l], 2 * k, 2, unsigned(q[v]) >> 4);
  }
  for (int j = 0; j < 16; ++j) b[192 + j] = uint8_t(sc[j] & 0xff);
  put16(&b[208], d);
  return b;
}

TEST(GgmlQuants, Q6_KRandom) {
  std::mt19937 rng(8);
  const int blocks = 24;
  Bytes data;
  std::vector<double> want, scale;
  for (int k = 0; k < blocks; ++k) {
    const uint16_t d = random_half(rng);
    const int p = pattern_of(k);
    int sc[16], q[256];
    for (int j = 0; j < 16; ++j) sc[j] = p == 1 ? -128 : p == 2 ? 127 : int(rng() % 256) - 128;
    for (int v = 0; v < 256; ++v) {
      q[v] = p == 1 ? 0 : p == 2 ? 63 : int(rng() % 64);
      want.push_back(double(f16_to_f32(d)) * sc[8 * (v / 128) + (v % 128) / 16] * (q[v] - 32));
      scale.push_back(std::fabs(want.back()));
    }
    const Bytes b = pack_q6_k(d, sc, q);
    data.insert(data.end(), b.begin(), b.end());
  }
  expect_close(decode(DType::Q6_K, data, blocks * 256), want, scale, "Q6_K");
}

TEST(GgmlQuants, Q6_KLiteral) {
  // d = 0.5 (0x3800). scales[0] = -2, scales[2] = 3, scales[4] = 5, scales[6] = -1.
  // ql[0] = 0x21 (low nibble 1, high nibble 2), ql[32] = 0, qh[0] = 0xE4 = 0b11'10'01'00.
  // value 0  = ql[0] low 1  | qh bits 0-1 (0) << 4 = 1  -> 1 - 32 = -31; scale[0] = -2:
  //   0.5 * -2 * -31 = 31.
  // value 32 = ql[32] low 0 | qh bits 2-3 (1) << 4 = 16 -> -16; scale[2] = 3: -24.
  // value 64 = ql[0] high 2 | qh bits 4-5 (2) << 4 = 34 -> 2; scale[4] = 5: 5.
  // value 96 = ql[32] high 0 | qh bits 6-7 (3) << 4 = 48 -> 16; scale[6] = -1: -8.
  // value 1: q = 0 -> -32; scale[0] = -2: 32. value 16: scale[1] = 0 -> 0.
  // Second half (values 128..255): all scales 0 -> 0.
  Bytes b(210, 0);
  b[0] = 0x21;
  b[128] = 0xE4;
  b[192 + 0] = uint8_t(-2 & 0xff);
  b[192 + 2] = 3;
  b[192 + 4] = 5;
  b[192 + 6] = uint8_t(-1 & 0xff);
  b[209] = 0x38;
  const std::vector<float> y = decode(DType::Q6_K, b, 256);
  EXPECT_EQ(y[0], 31.0f);
  EXPECT_EQ(y[32], -24.0f);
  EXPECT_EQ(y[64], 5.0f);
  EXPECT_EQ(y[96], -8.0f);
  EXPECT_EQ(y[1], 32.0f);
  EXPECT_EQ(y[16], 0.0f);
  EXPECT_EQ(y[200], 0.0f);
}

// ---------------------------------------------------------------- cross-check

// Blocks of pseudo-random bytes (with the f16 scale fields set to chosen values), decoded by
// the `gguf` Python package (gguf.quants.dequantize, from the llama.cpp project) when these
// tests were written: the sum of all values and every 3rd (32-value types) or 11th (K types)
// value. An independent reading of the same format definition.
struct Reference {
  DType type;
  uint32_t seed;
  std::vector<std::pair<int, uint16_t>> halves;  // byte offset, f16 bits
  double sum;
  std::vector<std::pair<int, double>> values;  // index, value
};

// The byte generator used by the Python script: x = x * 1664525 + 1013904223, byte = x >> 24.
Bytes lcg_bytes(uint32_t seed, size_t n) {
  Bytes out(n);
  uint32_t x = seed;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    out[i] = uint8_t(x >> 24);
  }
  return out;
}

TEST(GgmlQuants, MatchesGgufPythonReference) {
  // clang-format off
  const std::vector<Reference> refs = {
    {DType::Q4_0, 1000u, {{0, 0xa24c}}, 0.0614929199, {{0, 0.012298584}, {3, 0.036895752}, {6, -0.012298584}, {9, -0.0491943359}, {12, 0.036895752}, {15, 0.0614929199}, {18, -0.0614929199}, {21, -0.0491943359}, {24, -0}, {27, -0.036895752}, {30, -0.0614929199}}},
    {DType::Q4_1, 1001u, {{0, 0x25fe}, {2, 0xaf7d}}, 1.5458374, {{0, -0.0233764648}, {3, 3.05175781e-05}, {6, 0.0936584473}, {9, 0.0468444824}, {12, -0.0467834473}, {15, 0.234100342}, {18, 0.163879395}, {21, -0.0935974121}, {24, 0.0468444824}, {27, -0.0935974121}, {30, -0.0233764648}}},
    {DType::Q5_0, 1002u, {{0, 0x1fff}}, 0.234260559, {{0, 0.109321594}, {3, -0.0858955383}, {6, 0.101512909}, {9, 0.078086853}, {12, -0.124938965}, {15, 0.11713028}, {18, 0.0234260559}, {21, 0.109321594}, {24, 0.0937042236}, {27, -0.0624694824}, {30, 0.11713028}}},
    {DType::Q5_1, 1003u, {{0, 0xa7f6}, {2, 0x3400}}, -7.29992676, {{0, -0.714019775}, {3, -0.558532715}, {6, -0.371948242}, {9, -0.682922363}, {12, -0.714019775}, {15, -0.589630127}, {18, -0.682922363}, {21, -0.496337891}, {24, 0.0945129395}, {27, -0.278656006}, {30, -0.0609741211}}},
    {DType::Q8_0, 1004u, {{0, 0x1c3b}}, 1.45835495, {{0, 0.280929565}, {3, 0.338768005}, {6, 0.268535614}, {9, 0.301586151}, {12, 0.26027298}, {15, -0.454444885}, {18, 0.396606445}, {21, 0.256141663}, {24, -0.309848785}, {27, -0.0908889771}, {30, -0.49162674}}},
    {DType::Q4_K, 1005u, {{0, 0x1872}, {2, 0x9e3f}}, 152.174213, {{0, 0.0243988037}, {11, 0.523628235}, {22, 1.02285767}, {33, 0.45532608}, {44, 0.299045563}, {55, 0.611606598}, {66, 0.275882721}, {77, 0.178207397}, {88, 0.256347656}, {99, 0.616832733}, {110, 1.08784485}, {121, 1.35699463}, {132, 0.633674622}, {143, 0.39491272}, {154, 0.4426651}, {165, 0.244480133}, {176, 0.309597015}, {187, 0.192386627}, {198, 1.49239349}, {209, 0.424476624}, {220, 1.49239349}, {231, 0.696842194}, {242, 0.66211319}, {253, 0.801029205}}},
    {DType::Q5_K, 1006u, {{0, 0x9644}, {2, 0x1c1e}}, -252.086388, {{0, -0.712486267}, {11, -0.0623664856}, {22, -0.406547546}, {33, -0.826770782}, {44, -0.540718079}, {55, -0.540718079}, {66, -1.09061432}, {77, -2.77327728}, {88, -2.68914413}, {99, -0.436172485}, {110, -0.482063293}, {121, -0.558547974}, {132, -0.249641418}, {143, -2.14952087}, {154, -0.580055237}, {165, -2.70423126}, {176, -1.65792084}, {187, -2.00669098}, {198, -0.680580139}, {209, -2.19191742}, {220, -0.521492004}, {231, -0.152786255}, {242, -0.960464478}, {253, -0.40977478}}},
    {DType::Q6_K, 1007u, {{208, 0x1383}}, 7.51171875, {{0, -0.190727234}, {11, -0.107284069}, {22, -0.19256115}, {33, 1.45429516}, {44, 2.12550831}, {55, -0.184308529}, {66, -0.817009449}, {77, -0.817009449}, {88, 0.56026125}, {99, 3.13782978}, {110, 1.40661335}, {121, 0.0687718391}, {132, -1.52581787}, {143, 1.64318848}, {154, -1.74955559}, {165, 0.443807602}, {176, 2.65917778}, {187, 2.65917778}, {198, 1.86417532}, {209, -1.84858704}, {220, -0.11553669}, {231, -3.41108322}, {242, -3.02779484}, {253, -1.16453648}}},
  };
  // clang-format on
  for (const Reference& r : refs) {
    Bytes b = lcg_bytes(r.seed, size_t(dtype_block_bytes(r.type)));
    for (const auto& [at, bits] : r.halves) put16(&b[size_t(at)], bits);
    const int64_t n = dtype_block_elems(r.type);
    const std::vector<float> y = decode(r.type, b, n);
    double sum = 0, mag = 0;
    for (float v : y) sum += v, mag += std::fabs(v);
    EXPECT_NEAR(sum, r.sum, 1e-6 * mag + 1e-9) << dtype_name(r.type);
    for (const auto& [i, want] : r.values)
      EXPECT_NEAR(y[size_t(i)], want, 1e-6 * std::fabs(want) + 1e-9)
          << dtype_name(r.type) << " value " << i;
  }
}

// The fast path (AVX2 when built for it) and the scalar code agree bit for bit on arbitrary
// blocks (scale fields kept finite).
TEST(GgmlQuants, FastPathMatchesScalar) {
  struct HalfAt {
    DType type;
    std::vector<int> offsets;
  };
  const std::vector<HalfAt> types = {
      {DType::Q4_0, {0}}, {DType::Q4_1, {0, 2}}, {DType::Q5_0, {0}},    {DType::Q5_1, {0, 2}},
      {DType::Q8_0, {0}}, {DType::Q4_K, {0, 2}}, {DType::Q5_K, {0, 2}}, {DType::Q6_K, {208}},
  };
  std::mt19937 rng(9);
  for (const HalfAt& t : types) {
    const int64_t blocks = 37, bb = dtype_block_bytes(t.type);
    Bytes data(size_t(blocks * bb));
    for (uint8_t& x : data) x = uint8_t(rng());
    for (int64_t k = 0; k < blocks; ++k)
      for (int off : t.offsets) {
        uint8_t& hi = data[size_t(k * bb + off + 1)];
        if ((hi & 0x7c) == 0x7c) hi &= 0xbf;  // exponent all ones (inf/NaN) -> finite
      }
    const int64_t n = blocks * dtype_block_elems(t.type);
    std::vector<float> fast(static_cast<size_t>(n)), scalar(static_cast<size_t>(n));
    dequantize_row(t.type, data.data(), fast.data(), n);
    dequantize_row_scalar(t.type, data.data(), scalar.data(), n);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(bits_from_f32(fast[size_t(i)]), bits_from_f32(scalar[size_t(i)]))
          << dtype_name(t.type) << " value " << i << ": " << fast[size_t(i)] << " vs "
          << scalar[size_t(i)];
  }
}

TEST(GgmlQuants, RejectsBadArguments) {
  std::vector<uint8_t> b(512, 0);
  std::vector<float> y(256);
  EXPECT_THROW(dequantize_row(DType::F32, b.data(), y.data(), 32), Error);
  EXPECT_THROW(dequantize_row(DType::Q4_0, b.data(), y.data(), 31), Error);
  EXPECT_THROW(dequantize_row(DType::Q4_K, b.data(), y.data(), 128), Error);
  EXPECT_NO_THROW(dequantize_row(DType::Q4_K, b.data(), y.data(), 0));
  EXPECT_THROW(dequantize_row_scalar(DType::BF16, b.data(), y.data(), 32), Error);
  EXPECT_THROW(dequantize_row_scalar(DType::Q6_K, b.data(), y.data(), 255), Error);
}

}  // namespace
}  // namespace yopo
