#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "ops/attention.h"
#include "ops/span_attention.h"
#include "ops/span_attention_reference.h"
#include "unit/ops_test_util.h"

namespace yopo::ops {
namespace {

using test::expect_close_2d;
using test::random_floats;

constexpr VisualKeys kLive = VisualKeys::Live, kDead = VisualKeys::Dead,
                     kExcluded = VisualKeys::Excluded;

// Per-query key spans as attention_spans takes them.
struct Spans {
  std::vector<int32_t> offsets{0};
  std::vector<KeySpan> spans;
  std::vector<uint8_t> visual_query;

  // Adds a query; runs of pieces are appended in order.
  void add_query(const std::vector<KeySpan>& s, bool visual) {
    spans.insert(spans.end(), s.begin(), s.end());
    offsets.push_back(int32_t(spans.size()));
    visual_query.push_back(visual);
  }
  int64_t n_q() const { return int64_t(visual_query.size()); }
};

// Inputs with padded strides, a sentinel-filled output and one attention_spans call per Context.
struct Problem {
  AttentionShape shape;
  int64_t n_kv = 0;
  Spans spans;
  std::vector<VisualKeys> modes;  // empty: head_mode = nullptr
  bool pass_visual_query = true;
  float scale = 0;

  int64_t qw() const { return shape.n_heads * shape.head_dim; }
  int64_t ldq() const { return qw() + 3; }
  int64_t ldkv() const { return shape.n_kv_heads * shape.head_dim + 5; }
  int64_t ldo() const { return qw() + 7; }
};

struct Buffers {
  std::vector<float> q, k, v, out, want;
};

Buffers make_buffers(const Problem& p, uint32_t seed) {
  Buffers b;
  b.q = random_floats(size_t(p.spans.n_q() * p.ldq()), seed, -2.f, 2.f);
  b.k = random_floats(size_t(p.n_kv * p.ldkv()), seed + 1, -2.f, 2.f);
  b.v = random_floats(size_t(p.n_kv * p.ldkv()), seed + 2);
  b.out.assign(size_t(p.spans.n_q() * p.ldo()), 123.0f);
  b.want = b.out;
  return b;
}

SpanAttentionArgs make_args(const Problem& p, const Buffers& b, float* out) {
  SpanAttentionArgs a;
  a.q = b.q.data();
  a.n_q = p.spans.n_q();
  a.ldq = p.ldq();
  a.k = b.k.data();
  a.v = b.v.data();
  a.ldkv = p.ldkv();
  a.shape = p.shape;
  a.scale = p.scale != 0 ? p.scale : 1.0f / std::sqrt(float(p.shape.head_dim));
  a.span_offsets = p.spans.offsets.data();
  a.spans = p.spans.spans.data();
  a.head_mode = p.modes.empty() ? nullptr : p.modes.data();
  a.visual_query = p.pass_visual_query ? p.spans.visual_query.data() : nullptr;
  a.out = out;
  a.ldo = p.ldo();
  a.n_kv = p.n_kv;
  return a;
}

// Runs the kernel and the reference; compares, checks that padding is untouched and that the
// skipped (visual query, pruned head) outputs are exactly 0.
void check_problem(Context& ctx, const Problem& p, uint32_t seed, const std::string& what) {
  Buffers b = make_buffers(p, seed);
  const SpanAttentionArgs a = make_args(p, b, b.out.data());
  attention_spans(ctx, a);
  ref::attention_spans(make_args(p, b, b.want.data()), p.n_kv);
  const int64_t d = p.shape.head_dim;
  expect_close_2d(b.out.data(), p.ldo(), b.want.data(), p.ldo(), a.n_q, p.qw(), 1e-5, 1e-6, what);
  for (int64_t i = 0; i < a.n_q; ++i) {
    for (int64_t t = p.qw(); t < p.ldo(); ++t)
      ASSERT_EQ(b.out[size_t(i * p.ldo() + t)], 123.0f) << what << ": padding of row " << i;
    if (!a.visual_query || !a.visual_query[i] || !a.head_mode) continue;
    for (int64_t h = 0; h < p.shape.n_heads; ++h) {
      if (a.head_mode[h] == kLive) continue;
      for (int64_t t = 0; t < d; ++t)
        ASSERT_EQ(b.out[size_t(i * p.ldo() + h * d + t)], 0.0f)
            << what << ": visual query " << i << " head " << h;
    }
  }
}

std::vector<VisualKeys> cycled_modes(int64_t n_heads, int offset = 0) {
  const VisualKeys all[3] = {kLive, kDead, kExcluded};
  std::vector<VisualKeys> m(static_cast<size_t>(n_heads));
  for (int64_t h = 0; h < n_heads; ++h) m[size_t(h)] = all[(h + offset) % 3];
  return m;
}

// Independent random spans per query: 1-5 sorted disjoint spans (some one key long, some
// empty), random visual flags; about 40% visual queries; some queries see only visual keys.
Spans random_spans(int64_t n_q, int64_t n_kv, uint32_t seed) {
  std::mt19937 g(seed);
  Spans s;
  for (int64_t i = 0; i < n_q; ++i) {
    std::vector<KeySpan> q;
    const int n = 1 + int(g() % 5);
    const bool only_visual = g() % 7 == 0;
    int32_t pos = int32_t(g() % 8);
    for (int t = 0; t < n && pos < n_kv; ++t) {
      const int kind = int(g() % 4);
      const int32_t len = kind == 0 ? 1 : kind == 1 ? 0 : int32_t(1 + g() % 40);
      const int32_t end = std::min<int32_t>(int32_t(n_kv), pos + len);
      q.push_back({pos, end, uint8_t(only_visual || g() % 2)});
      pos = end + int32_t(g() % 12);
    }
    if (q.empty()) q = {{0, 1, uint8_t(only_visual)}};
    bool any = false;
    for (const KeySpan& k : q) any = any || k.end > k.begin;
    if (!any) q.push_back({q.back().end, q.back().end + 1, 1});
    s.add_query(q, g() % 5 < 2);
  }
  return s;
}

// Causal prefill over [text prefix | visual | text], with random holes: consecutive queries
// share most keys, so the kernel groups them into tiles whose rows mask different keys.
Spans holey_causal_spans(int64_t n_q, int64_t q_start, int64_t n_prefix, int64_t n_visual,
                         uint32_t seed) {
  std::mt19937 g(seed);
  Spans s;
  for (int64_t i = 0; i < n_q; ++i) {
    const int64_t pos = q_start + i;
    std::vector<KeySpan> q;
    auto push = [&](int64_t b, int64_t e, bool vis) {
      if (b >= e) return;
      q.push_back({int32_t(b), int32_t(e), uint8_t(vis)});
    };
    // Cut [0, pos] at the visual boundaries and at a random hole.
    const int64_t hole_b = int64_t(g() % uint32_t(pos + 1)), hole_e = hole_b + int64_t(g() % 4);
    const int64_t cuts[4] = {0, n_prefix, n_prefix + n_visual, pos + 1};
    for (int c = 0; c < 3; ++c) {
      const int64_t b = std::min(cuts[c], pos + 1), e = std::min(cuts[c + 1], pos + 1);
      const bool vis = c == 1;
      if (i % 3 == 0) {
        push(b, std::min(e, std::max(b, hole_b)), vis);
        push(std::max(b, std::min(e, hole_e)), e, vis);
      } else {
        push(b, e, vis);
      }
    }
    if (q.empty()) q.push_back({int32_t(pos), int32_t(pos + 1), 0});
    const bool visual = pos >= n_prefix && pos < n_prefix + n_visual;
    s.add_query(q, visual);
  }
  return s;
}

// A 6x6 image after a text prefix, then text: each visual token sees the prefix and the
// (2r+1)x(2r+1) square around it on the grid (clipped, itself and later tokens included); text
// tokens see everything before them (causal).
Spans grid_window_spans(int64_t prefix, int64_t side, int64_t suffix, int64_t radius) {
  Spans s;
  const int64_t n_vis = side * side;
  for (int64_t i = 0; i < prefix; ++i) s.add_query({{0, int32_t(i + 1), 0}}, false);
  for (int64_t r = 0; r < side; ++r) {
    for (int64_t c = 0; c < side; ++c) {
      std::vector<KeySpan> q{{0, int32_t(prefix), 0}};
      for (int64_t rr = std::max<int64_t>(0, r - radius); rr <= std::min(side - 1, r + radius);
           ++rr) {
        const int64_t c0 = std::max<int64_t>(0, c - radius), c1 = std::min(side - 1, c + radius);
        q.push_back({int32_t(prefix + rr * side + c0), int32_t(prefix + rr * side + c1 + 1), 1});
      }
      s.add_query(q, true);
    }
  }
  for (int64_t t = 0; t < suffix; ++t) {
    s.add_query({{0, int32_t(prefix), 0},
                 {int32_t(prefix), int32_t(prefix + n_vis), 1},
                 {int32_t(prefix + n_vis), int32_t(prefix + n_vis + t + 1), 0}},
                false);
  }
  return s;
}

// Threads x (AVX-512 paths allowed or not).
class SpanAttentionTest : public ::testing::TestWithParam<std::tuple<int, bool>> {
 protected:
  void SetUp() override {
    ctx_ = std::make_unique<Context>(std::get<0>(GetParam()));
    ctx_->set_avx512(std::get<1>(GetParam()));
  }
  Context& ctx() { return *ctx_; }

 private:
  std::unique_ptr<Context> ctx_;
};

const AttentionShape kShapes[] = {
    {4, 4, 12}, {4, 2, 20}, {8, 2, 128}, {6, 3, 12}, {6, 2, 20}, {8, 1, 20}, {3, 3, 128}, {4, 4, 7},
};

TEST_P(SpanAttentionTest, RandomSpansMatchReference) {
  uint32_t seed = 1;
  for (const AttentionShape& s : kShapes) {
    for (int64_t n_q : {1, 2, 5, 23}) {
      Problem p;
      p.shape = s;
      p.n_kv = 150;
      p.spans = random_spans(n_q, p.n_kv, seed);
      p.modes = cycled_modes(s.n_heads, int(n_q));
      check_problem(ctx(), p, seed,
                    "random heads " + std::to_string(s.n_heads) + "/" +
                        std::to_string(s.n_kv_heads) + " d " + std::to_string(s.head_dim) +
                        " n_q " + std::to_string(n_q));
      ++seed;
    }
  }
}

TEST_P(SpanAttentionTest, HoleyCausalMatchesReference) {
  uint32_t seed = 100;
  for (const AttentionShape& s : kShapes) {
    for (int64_t q_start : {0, 17}) {
      Problem p;
      p.shape = s;
      const int64_t n_q = 40;
      p.n_kv = q_start + n_q;
      p.spans = holey_causal_spans(n_q, q_start, 6, 20, seed);
      p.modes = cycled_modes(s.n_heads, int(seed));
      check_problem(ctx(), p, seed,
                    "holey causal heads " + std::to_string(s.n_heads) + "/" +
                        std::to_string(s.n_kv_heads) + " d " + std::to_string(s.head_dim) +
                        " q_start " + std::to_string(q_start));
      // The same with every head in one mode, and without per-head / per-query arrays.
      for (VisualKeys m : {kLive, kDead, kExcluded}) {
        p.modes.assign(size_t(s.n_heads), m);
        check_problem(ctx(), p, seed, "holey causal, one mode " + std::to_string(int(m)));
      }
      p.modes.clear();
      p.pass_visual_query = false;
      check_problem(ctx(), p, seed, "holey causal, no modes");
      ++seed;
    }
  }
}

TEST_P(SpanAttentionTest, GridWindowMatchesReference) {
  for (int64_t radius : {1, 2}) {
    for (const AttentionShape& s : {AttentionShape{6, 6, 20}, AttentionShape{4, 2, 128}}) {
      Problem p;
      p.shape = s;
      p.spans = grid_window_spans(5, 6, 4, radius);
      p.n_kv = 5 + 36 + 4;
      p.modes = cycled_modes(s.n_heads);
      // Each visual query sees the prefix and its window only.
      const int64_t i = 5 + 2 * 6 + 3;  // row 2, column 3
      int64_t keys = 0;
      for (int32_t t = p.spans.offsets[size_t(i)]; t < p.spans.offsets[size_t(i + 1)]; ++t)
        keys += p.spans.spans[size_t(t)].end - p.spans.spans[size_t(t)].begin;
      EXPECT_EQ(keys, 5 + (2 * radius + 1) * (2 * radius + 1));
      check_problem(
          ctx(), p, uint32_t(200 + radius),
          "grid window radius " + std::to_string(radius) + " d " + std::to_string(s.head_dim));
    }
  }
}

// Larger problems: the kernel splits a head's queries into several items, copies the keys of
// the items that reuse them into contiguous buffers (limited in size: a 26x26 image's window
// items are cut by it) and handles queries attending more keys than that limit on their own.
TEST_P(SpanAttentionTest, LargeProblemsMatchReference) {
  {
    Problem p;
    p.shape = {2, 1, 128};
    p.spans = grid_window_spans(9, 26, 3, 2);
    p.n_kv = 9 + 26 * 26 + 3;
    p.modes = {kLive, kDead};
    check_problem(ctx(), p, 300, "26x26 window");
    p.modes = {kExcluded, kLive};
    check_problem(ctx(), p, 301, "26x26 window, excluded");
  }
  {
    Problem p;
    p.shape = {4, 2, 128};
    p.spans = holey_causal_spans(40, 1160, 100, 700, 302);
    p.n_kv = 1200;
    p.modes = cycled_modes(4);
    check_problem(ctx(), p, 302, "long causal");
  }
}

// Queries that see only visual keys: pruned heads give 0 even for text queries.
TEST_P(SpanAttentionTest, OnlyVisualKeysGiveZeroInPrunedHeads) {
  Problem p;
  p.shape = {3, 3, 16};
  p.n_kv = 30;
  p.spans.add_query({{2, 9, 1}, {12, 13, 1}}, false);
  p.spans.add_query({{0, 3, 0}, {5, 20, 1}}, false);
  p.spans.add_query({{4, 30, 1}}, false);
  p.modes = {kLive, kDead, kExcluded};
  Buffers b = make_buffers(p, 7);
  attention_spans(ctx(), make_args(p, b, b.out.data()));
  ref::attention_spans(make_args(p, b, b.want.data()), p.n_kv);
  expect_close_2d(b.out.data(), p.ldo(), b.want.data(), p.ldo(), 3, p.qw(), 1e-5, 1e-6, "visual");
  for (int64_t i : {0, 2}) {
    for (int64_t t = 16; t < 48; ++t) EXPECT_EQ(b.out[size_t(i * p.ldo() + t)], 0.0f) << i;
    bool any = false;
    for (int64_t t = 0; t < 16; ++t) any = any || b.out[size_t(i * p.ldo() + t)] != 0.0f;
    EXPECT_TRUE(any) << "the Live head of query " << i << " attends its visual keys";
  }
}

// One span [0, q_start + i + 1) per query is causal attention.
TEST_P(SpanAttentionTest, CausalSpansEqualAttentionCausal) {
  const struct {
    AttentionShape s;
    int64_t n_q, q_start;
  } cases[] = {{{4, 4, 16}, 1, 0},     {{4, 4, 16}, 9, 0},  {{8, 2, 20}, 13, 5},
               {{8, 8, 128}, 37, 3},   {{6, 3, 12}, 2, 11}, {{16, 4, 64}, 1, 40},
               {{32, 32, 128}, 6, 70}, {{4, 1, 12}, 11, 0}};
  for (const auto& c : cases) {
    Problem p;
    p.shape = c.s;
    p.n_kv = c.q_start + c.n_q;
    for (int64_t i = 0; i < c.n_q; ++i)
      p.spans.add_query({{0, int32_t(c.q_start + i + 1), 0}}, false);
    const std::string what = "causal heads " + std::to_string(c.s.n_heads) + "/" +
                             std::to_string(c.s.n_kv_heads) + " n_q " + std::to_string(c.n_q);
    Buffers b = make_buffers(p, uint32_t(c.n_q * 31 + c.q_start));
    const SpanAttentionArgs a = make_args(p, b, b.out.data());
    attention_causal(ctx(), a.q, a.n_q, a.ldq, c.q_start, a.k, a.v, p.n_kv, a.ldkv, a.shape,
                     a.scale, b.want.data(), a.ldo);
    // With no visual key, every mode is ordinary attention.
    for (int m = 0; m < 4; ++m) {
      p.modes = m == 3 ? cycled_modes(c.s.n_heads)
                       : std::vector<VisualKeys>(size_t(c.s.n_heads), VisualKeys(m));
      attention_spans(ctx(), make_args(p, b, b.out.data()));
      expect_close_2d(b.out.data(), p.ldo(), b.want.data(), p.ldo(), c.n_q, p.qw(), 1e-5, 1e-6,
                      what + " mode set " + std::to_string(m));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, SpanAttentionTest,
                         ::testing::Combine(::testing::Values(1, 2), ::testing::Bool()));

// Two keys with scores 0 and ln 3 (weights 1/4, 3/4), the second visual; worked by hand.
TEST(SpanAttention, DeadAndExcludedByHand) {
  const float q[6] = {1, 0, 1, 0, 1, 0};  // three heads, head_dim 2
  const float k[4] = {0, 5, std::log(3.0f), -7};
  const float v[4] = {4, 8, 100, 100};
  const int32_t offsets[2] = {0, 2};
  const KeySpan spans[2] = {{0, 1, 0}, {1, 2, 1}};
  const VisualKeys modes[3] = {kLive, kDead, kExcluded};
  for (bool avx512 : {false, true}) {
    Context ctx(1);
    ctx.set_avx512(avx512);
    float out[6] = {};
    SpanAttentionArgs a;
    a.q = q;
    a.n_q = 1;
    a.ldq = 6;
    a.k = k;
    a.v = v;
    a.ldkv = 2;
    a.shape = {3, 1, 2};
    a.span_offsets = offsets;
    a.spans = spans;
    a.head_mode = modes;
    a.out = out;
    a.ldo = 6;
    attention_spans(ctx, a);
    const float want[6] = {76, 77, 1, 2, 4, 8};
    for (int t = 0; t < 6; ++t) EXPECT_NEAR(out[t], want[t], 2e-5f * std::fabs(want[t])) << t;
    float ref_out[6] = {};
    a.out = ref_out;
    ref::attention_spans(a, 2);
    for (int t = 0; t < 6; ++t) EXPECT_NEAR(ref_out[t], want[t], 1e-5f * std::fabs(want[t])) << t;
    // A visual query gets nothing from the pruned heads.
    const uint8_t vq = 1;
    a.visual_query = &vq;
    a.out = out;
    attention_spans(ctx, a);
    for (int t = 0; t < 6; ++t) EXPECT_NEAR(out[t], t < 2 ? want[t] : 0.0f, 2e-5f * 77) << t;
    EXPECT_EQ(out[2], 0.0f);
    EXPECT_EQ(out[5], 0.0f);
  }
}

// The work count against a key-by-key count.
TEST(SpanAttention, WorkCountsMatchDirectCount) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    for (const AttentionShape& s : kShapes) {
      Problem p;
      p.shape = s;
      p.n_kv = 120;
      p.spans = seed == 3 ? holey_causal_spans(30, 90, 10, 50, seed)
                          : random_spans(40, p.n_kv, seed * 77 + uint32_t(s.head_dim));
      p.modes = cycled_modes(s.n_heads, int(seed));
      Buffers b;  // not read
      const SpanAttentionArgs a = make_args(p, b, nullptr);
      double scores = 0, values = 0;
      for (int64_t i = 0; i < a.n_q; ++i) {
        for (int64_t h = 0; h < s.n_heads; ++h) {
          const VisualKeys m = p.modes[size_t(h)];
          if (p.spans.visual_query[size_t(i)] && m != kLive) continue;
          double all = 0, text = 0;
          for (int64_t j = 0; j < p.n_kv; ++j) {
            for (int32_t t = a.span_offsets[i]; t < a.span_offsets[i + 1]; ++t) {
              if (j >= a.spans[t].begin && j < a.spans[t].end) {
                all += 1;
                text += a.spans[t].visual ? 0 : 1;
              }
            }
          }
          if (m != kLive && text == 0) continue;
          scores += m == kExcluded ? text : all;
          values += m == kLive ? all : text;
        }
      }
      const SpanAttentionWork w = attention_spans_work(a);
      EXPECT_EQ(w.scores, scores) << "seed " << seed << " d " << s.head_dim;
      EXPECT_EQ(w.value_terms, values) << "seed " << seed << " d " << s.head_dim;
    }
  }
  // Dense causal: n_q (n_q + 1) / 2 keys per head.
  Problem p;
  p.shape = {4, 2, 8};
  p.n_kv = 10;
  for (int32_t i = 0; i < 10; ++i) p.spans.add_query({{0, i + 1, 0}}, false);
  Buffers b;
  const SpanAttentionWork w = attention_spans_work(make_args(p, b, nullptr));
  EXPECT_EQ(w.scores, 4 * 55);
  EXPECT_EQ(w.value_terms, 4 * 55);
}

TEST(SpanAttention, EmptyQueryListDoesNothing) {
  Context ctx(1);
  SpanAttentionArgs a;
  a.shape = {2, 2, 4};
  a.ldq = a.ldo = a.ldkv = 8;
  EXPECT_NO_THROW(attention_spans(ctx, a));
  const SpanAttentionWork w = attention_spans_work(a);
  EXPECT_EQ(w.scores, 0);
  EXPECT_EQ(w.value_terms, 0);
}

TEST(SpanAttention, RejectsBadArguments) {
  Context ctx(1);
  std::vector<float> buf(4000);
  const int32_t offsets[3] = {0, 1, 2};
  KeySpan spans[2] = {{0, 3, 0}, {1, 4, 1}};
  auto args = [&] {
    SpanAttentionArgs a;
    a.q = a.k = a.v = buf.data();
    a.out = buf.data() + 2000;
    a.n_q = 2;
    a.ldq = a.ldo = a.ldkv = 8;
    a.shape = {2, 2, 4};
    a.span_offsets = offsets;
    a.spans = spans;
    a.n_kv = 10;
    return a;
  };
  EXPECT_NO_THROW(attention_spans(ctx, args()));
  auto expect_bad = [&](const SpanAttentionArgs& a, const char* what) {
    EXPECT_THROW(attention_spans(ctx, a), Error) << what;
    EXPECT_THROW(attention_spans_work(a), Error) << what;
  };
  SpanAttentionArgs a = args();
  a.shape = {3, 2, 4};
  expect_bad(a, "heads not a multiple of KV heads");
  a = args();
  a.ldq = 7;
  expect_bad(a, "short query stride");
  a = args();
  a.ldkv = 7;
  expect_bad(a, "short KV stride");
  a = args();
  a.span_offsets = nullptr;
  expect_bad(a, "no offsets");
  a = args();
  a.n_kv = 3;
  expect_bad(a, "span past the cache");
  const VisualKeys bad_mode[2] = {kLive, VisualKeys(7)};
  a = args();
  a.head_mode = bad_mode;
  expect_bad(a, "bad mode");
  const int32_t no_spans[3] = {0, 1, 1};
  a = args();
  a.span_offsets = no_spans;
  expect_bad(a, "query without spans");

  const int32_t two[2] = {0, 2};
  const KeySpan cases[][2] = {
      {{0, 3, 0}, {2, 5, 0}},   // overlap
      {{4, 6, 0}, {0, 2, 0}},   // unsorted
      {{-1, 2, 0}, {3, 4, 0}},  // negative
      {{3, 2, 0}, {4, 5, 0}},   // begin > end
      {{2, 2, 0}, {5, 5, 1}},   // no keys
  };
  for (const auto& c : cases) {
    a = args();
    a.n_q = 1;
    a.span_offsets = two;
    a.spans = c;
    expect_bad(a, "bad span list");
  }
  a = args();
  a.q = nullptr;
  EXPECT_THROW(attention_spans(ctx, a), Error);
}

}  // namespace
}  // namespace yopo::ops
