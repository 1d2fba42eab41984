#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/dtype.h"
#include "core/error.h"
#include "ops/attention_bf16.h"
#include "ops/reference.h"
#include "unit/ops_test_util.h"

namespace yopo::ops {
namespace {

using test::random_floats;

std::vector<float> bf16_rounded(std::vector<float> x) {
  for (float& f : x) f = bf16_to_f32(f32_to_bf16(f));
  return x;
}

struct Case {
  AttentionShape shape;
  int64_t n_q, n_kv;
};

// Against exact (double) attention on bf16-rounded q, k, v: rounding p to bf16 moves each
// p_j by at most 2^-9 p_j, so each output by at most 2^-9 * sum_j p_j |v_j| <= 2^-9 max |v|.
// The f32 scores (K <= 64 products of magnitude <= 4) and the f32 sums add far less than the
// 10% slack on top.
void check_case(Context& ctx, const Case& c) {
  const AttentionShape& s = c.shape;
  const int64_t qw = s.n_heads * s.head_dim, kvw = s.n_kv_heads * s.head_dim;
  const int64_t ldq = 3 * qw + 1, ldkv = 3 * qw + 1, ldo = qw + 5;  // packed QKV-like strides
  const uint32_t seed = uint32_t(s.n_heads * 977 + s.head_dim * 31 + c.n_q + c.n_kv);
  const std::vector<float> q = random_floats(size_t(c.n_q * ldq), seed, -2.f, 2.f);
  const std::vector<float> k = random_floats(size_t(c.n_kv * ldkv), seed + 1, -2.f, 2.f);
  const std::vector<float> v = random_floats(size_t(c.n_kv * ldkv), seed + 2);
  std::vector<float> out(size_t(c.n_q * ldo), 123.0f), want = out;
  const float scale = 1.0f / std::sqrt(float(s.head_dim));
  attention_full_bf16(ctx, q.data(), c.n_q, ldq, k.data(), v.data(), c.n_kv, ldkv, s, scale,
                      out.data(), ldo);
  const std::vector<float> qr = bf16_rounded(q), kr = bf16_rounded(k), vr = bf16_rounded(v);
  ref::attention(qr.data(), c.n_q, ldq, 0, kr.data(), vr.data(), c.n_kv, ldkv, s, scale,
                 want.data(), ldo, false);
  float vmax = 0.0f;
  for (int64_t j = 0; j < c.n_kv; ++j)
    for (int64_t t = 0; t < kvw; ++t) vmax = std::max(vmax, std::fabs(vr[size_t(j * ldkv + t)]));
  const double bound = 1.1 * std::ldexp(1.0, -9) * vmax;
  const std::string what = "heads " + std::to_string(s.n_heads) + "/" +
                           std::to_string(s.n_kv_heads) + " d " + std::to_string(s.head_dim) +
                           " n_q " + std::to_string(c.n_q) + " n_kv " + std::to_string(c.n_kv);
  double worst = 0.0;
  for (int64_t i = 0; i < c.n_q; ++i) {
    for (int64_t t = 0; t < qw; ++t)
      worst =
          std::max(worst, double(std::fabs(out[size_t(i * ldo + t)] - want[size_t(i * ldo + t)])));
    for (int64_t t = qw; t < ldo; ++t) ASSERT_EQ(out[size_t(i * ldo + t)], 123.0f) << what;
  }
  EXPECT_LE(worst, bound) << what;
}

// Row counts on both sides of the small-product threshold (4 rows: the engine's own bf16 kernel;
// more: oneDNN), key counts that are not multiples of 16 or 32, MHA and grouped KV heads.
const Case kCases[] = {
    {{4, 4, 16}, 3, 7},  {{4, 4, 16}, 33, 33}, {{4, 2, 8}, 1, 50},
    {{8, 2, 20}, 17, 9}, {{6, 3, 12}, 40, 71}, {{16, 16, 64}, 145, 145},
};

TEST(AttentionBf16, MatchesExactAttentionWithinTheRoundingOfP) {
  Context ctx(2);
  for (const Case& c : kCases) check_case(ctx, c);
}

TEST(AttentionBf16, OneKeyGivesItsValue) {
  Context ctx(1);
  const AttentionShape s{2, 1, 4};
  const std::vector<float> q = random_floats(3 * 8, 5), kv = {1, 2, 3, 4};
  std::vector<float> out(3 * 8, 0.0f);
  attention_full_bf16(ctx, q.data(), 3, 8, kv.data(), kv.data(), 1, 4, s, 0.5f, out.data(), 8);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t t = 0; t < 4; ++t) EXPECT_EQ(out[size_t(i * 8 + h * 4 + t)], float(t + 1));
}

TEST(AttentionBf16, RejectsBadShapes) {
  Context ctx(1);
  std::vector<float> buf(64, 0.0f);
  EXPECT_THROW(attention_full_bf16(ctx, buf.data(), 1, 8, buf.data(), buf.data(), 1, 8, {3, 2, 4},
                                   1.0f, buf.data(), 8),
               Error);
  EXPECT_THROW(attention_full_bf16(ctx, buf.data(), 1, 4, buf.data(), buf.data(), 1, 8, {2, 2, 4},
                                   1.0f, buf.data(), 8),
               Error);
  EXPECT_THROW(attention_full_bf16(ctx, buf.data(), 1, 8, buf.data(), buf.data(), 0, 8, {2, 2, 4},
                                   1.0f, buf.data(), 8),
               Error);
}

}  // namespace
}  // namespace yopo::ops
