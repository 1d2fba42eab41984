#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "ops/attention.h"
#include "ops/reference.h"
#include "unit/ops_test_util.h"

namespace yopo::ops {
namespace {

using test::expect_close_2d;
using test::random_floats;

struct Case {
  AttentionShape shape;
  int64_t n_q, q_start;
};

void check_case(Context& ctx, const Case& c, bool causal) {
  const AttentionShape& s = c.shape;
  const int64_t n_kv = c.q_start + c.n_q + (causal ? 0 : 3);
  const int64_t qw = s.n_heads * s.head_dim, kvw = s.n_kv_heads * s.head_dim;
  const int64_t ldq = qw + 3, ldkv = kvw + 5, ldo = qw + 7;
  const uint32_t seed = uint32_t(s.n_heads * 1000 + s.n_kv_heads * 100 + s.head_dim + c.n_q);
  const std::vector<float> q = random_floats(size_t(c.n_q * ldq), seed, -2.f, 2.f);
  const std::vector<float> k = random_floats(size_t(n_kv * ldkv), seed + 1, -2.f, 2.f);
  const std::vector<float> v = random_floats(size_t(n_kv * ldkv), seed + 2);
  std::vector<float> out(size_t(c.n_q * ldo), 123.0f), want = out;
  const float scale = 1.0f / std::sqrt(float(s.head_dim));
  if (causal) {
    attention_causal(ctx, q.data(), c.n_q, ldq, c.q_start, k.data(), v.data(), n_kv, ldkv, s, scale,
                     out.data(), ldo);
  } else {
    attention_full(ctx, q.data(), c.n_q, ldq, k.data(), v.data(), n_kv, ldkv, s, scale, out.data(),
                   ldo);
  }
  ref::attention(q.data(), c.n_q, ldq, causal ? c.q_start : 0, k.data(), v.data(), n_kv, ldkv, s,
                 scale, want.data(), ldo, causal);
  const std::string what = std::string(causal ? "causal" : "full") + " heads " +
                           std::to_string(s.n_heads) + "/" + std::to_string(s.n_kv_heads) + " d " +
                           std::to_string(s.head_dim) + " n_q " + std::to_string(c.n_q) +
                           " q_start " + std::to_string(c.q_start);
  expect_close_2d(out.data(), ldo, want.data(), ldo, c.n_q, qw, 1e-5, 1e-6, what);
  for (int64_t i = 0; i < c.n_q; ++i)
    for (int64_t t = qw; t < ldo; ++t) ASSERT_EQ(out[size_t(i * ldo + t)], 123.0f) << what;
}

const Case kCases[] = {
    {{4, 4, 16}, 1, 0},
    {{4, 4, 16}, 1, 9},
    {{4, 4, 16}, 6, 0},
    {{4, 2, 8}, 1, 13},
    {{4, 2, 8}, 5, 3},
    {{8, 2, 20}, 1, 30},
    {{8, 2, 20}, 3, 4},
    {{8, 2, 20}, 9, 0},
    {{8, 8, 36}, 13, 7},
    {{6, 3, 12}, 2, 5},
    {{2, 1, 7}, 4, 2},
    {{16, 4, 64}, 37, 11},
    {{32, 8, 128}, 1, 200},
    {{12, 3, 24}, 3, 1},
    // Prefill-sized: several query blocks (32) and key blocks (64), odd head sizes.
    {{4, 2, 20}, 16, 0},
    {{4, 1, 36}, 33, 40},
    {{2, 2, 128}, 70, 5},
    {{8, 2, 8}, 100, 30},
    {{3, 3, 17}, 40, 64},
    {{4, 4, 4}, 65, 0},
};

class AttentionTest : public ::testing::TestWithParam<int> {};

TEST_P(AttentionTest, CausalMatchesReference) {
  Context ctx(GetParam());
  for (const Case& c : kCases) check_case(ctx, c, true);
}

TEST_P(AttentionTest, FullMatchesReference) {
  Context ctx(GetParam());
  for (const Case& c : kCases) check_case(ctx, c, false);
}

INSTANTIATE_TEST_SUITE_P(Ops, AttentionTest, ::testing::Values(1, 2));

// One key: the output is that key's value whatever the scores.
TEST(Attention, SingleKeyReturnsItsValue) {
  Context ctx;
  const AttentionShape s{2, 1, 4};
  const float q[8] = {1, 2, 3, 4, -1, -2, -3, -4};
  const float k[4] = {0.5f, 0.25f, -1, 2};
  const float v[4] = {10, 20, 30, 40};
  float out[8];
  attention_causal(ctx, q, 1, 8, 0, k, v, 1, 4, s, 0.5f, out, 8);
  for (int h = 0; h < 2; ++h)
    for (int t = 0; t < 4; ++t) EXPECT_FLOAT_EQ(out[h * 4 + t], v[t]);
}

TEST(Attention, RejectsBadShapes) {
  Context ctx;
  std::vector<float> buf(1000);
  const float* p = buf.data();
  float* o = buf.data() + 500;
  EXPECT_THROW(attention_causal(ctx, p, 2, 12, 3, p, p, 4, 12, {3, 2, 4}, 1.f, o, 12), Error);
  EXPECT_THROW(attention_causal(ctx, p, 2, 8, 3, p, p, 4, 8, {2, 2, 4}, 1.f, o, 8), Error);
  EXPECT_THROW(attention_causal(ctx, p, 2, 7, 0, p, p, 4, 8, {2, 2, 4}, 1.f, o, 8), Error);
}

}  // namespace
}  // namespace yopo::ops
