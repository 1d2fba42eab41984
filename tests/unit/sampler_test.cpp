#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "core/error.h"
#include "runtime/rng.h"

namespace yopo {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// ---------------------------------------------------------------------------------------------
// Independent reference: the sampling distribution written straight from the definitions, in
// double precision, with a full sort.

struct Reference {
  std::vector<double> q;  // probability of each token id after all truncations
  double margin = 1.0;    // closest distance of a top-p / min-p decision to its threshold
};

Reference reference(const std::vector<float>& logits, const SamplingParams& p,
                    const std::vector<int32_t>& history) {
  const int32_t n = static_cast<int32_t>(logits.size());
  std::vector<double> l(logits.begin(), logits.end());
  // Repetition penalty: each distinct id of the last repeat_last_n history entries, once.
  if (p.repeat_penalty != 1.0f && p.repeat_last_n > 0) {
    const size_t window = std::min(history.size(), static_cast<size_t>(p.repeat_last_n));
    const std::set<int32_t> distinct(history.end() - static_cast<ptrdiff_t>(window), history.end());
    for (int32_t id : distinct) {
      if (id < 0 || id >= n) continue;
      if (l[id] > 0) {
        l[id] /= p.repeat_penalty;
      } else {
        l[id] *= p.repeat_penalty;
      }
    }
  }
  // Rank every finite token: higher logit first, ties to the lower id.
  std::vector<int32_t> order;
  for (int32_t i = 0; i < n; ++i) {
    if (std::isfinite(l[i])) order.push_back(i);
  }
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return l[a] != l[b] ? l[a] > l[b] : a < b; });
  // Top-k.
  if (p.top_k > 0 && order.size() > static_cast<size_t>(p.top_k)) order.resize(p.top_k);
  // Softmax with temperature over the survivors: exp(l / T) / sum exp(l / T).
  std::vector<double> prob(n, 0.0);
  double z = 0.0;
  const double shift = l[order[0]];  // exp((l - shift) / T) avoids overflow; same ratios
  for (int32_t id : order) {
    prob[id] = std::exp((l[id] - shift) / p.temperature);
    z += prob[id];
  }
  for (int32_t id : order) prob[id] /= z;
  Reference ref;
  // Top-p: the smallest prefix whose cumulative probability reaches top_p.
  if (p.top_p < 1.0f) {
    double cum = 0.0;
    for (size_t j = 0; j < order.size(); ++j) {
      cum += prob[order[j]];
      ref.margin = std::min(ref.margin, std::abs(cum - p.top_p));
      if (cum >= p.top_p) {
        order.resize(j + 1);
        break;
      }
    }
  }
  // Min-p: drop p < min_p * p_max.
  if (p.min_p > 0.0f) {
    double p_max = 0.0;
    for (int32_t id : order) p_max = std::max(p_max, prob[id]);
    std::vector<int32_t> kept;
    for (int32_t id : order) {
      ref.margin = std::min(ref.margin, std::abs(prob[id] - p.min_p * p_max));
      if (prob[id] >= p.min_p * p_max) kept.push_back(id);
    }
    order = kept;
  }
  // Renormalize.
  double s = 0.0;
  for (int32_t id : order) s += prob[id];
  ref.q.assign(n, 0.0);
  for (int32_t id : order) ref.q[id] = prob[id] / s;
  return ref;
}

std::vector<int64_t> draw_counts(Sampler& s, const std::vector<float>& logits,
                                 const std::vector<int32_t>& history, int draws) {
  std::vector<int64_t> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    const int32_t id = s.sample(logits.data(), static_cast<int32_t>(logits.size()), history);
    EXPECT_GE(id, 0);
    EXPECT_LT(id, static_cast<int32_t>(logits.size()));
    if (id >= 0 && id < static_cast<int32_t>(logits.size())) ++counts[id];
  }
  return counts;
}

// Draws `draws` tokens and compares each token's frequency with the reference within five
// standard errors; tokens the reference excludes must never be drawn.
void expect_distribution(const SamplingParams& p, const std::vector<float>& logits,
                         const std::vector<int32_t>& history = {}, int draws = 200000,
                         bool boundary_case = false) {
  const Reference ref = reference(logits, p, history);
  if (!boundary_case) {
    ASSERT_GT(ref.margin, 1e-4) << "test data sits on a top-p/min-p threshold";
  }
  Sampler s(p);
  const std::vector<int64_t> counts = draw_counts(s, logits, history, draws);
  for (size_t i = 0; i < logits.size(); ++i) {
    const double q = ref.q[i];
    if (q == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " is excluded by the definition";
      continue;
    }
    const double f = static_cast<double>(counts[i]) / draws;
    const double se = std::sqrt(q * (1.0 - q) / draws);
    EXPECT_NEAR(f, q, 5.0 * se) << "token " << i;
  }
}

SamplingParams plain(float temperature) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.repeat_penalty = 1.0f;
  return p;
}

const std::vector<float> kLogits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 2.0f, -kInf, 0.0f, 1.5f, -0.5f};

int32_t sample_once(Sampler& s, const std::vector<float>& logits,
                    const std::vector<int32_t>& history = {}) {
  return s.sample(logits.data(), static_cast<int32_t>(logits.size()), history);
}

// Deterministic pseudo-random logits in [lo, hi] (std::mt19937's integer sequence is fixed by
// the C++ standard).
std::vector<float> random_logits(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 gen(seed);
  std::vector<float> v(n);
  for (float& x : v) x = lo + (hi - lo) * static_cast<float>(gen() % 100001) / 100000.0f;
  return v;
}

// ---------------------------------------------------------------------------------------------
// Rng: published reference outputs.

TEST(Rng, SplitMix64MatchesPublishedSequence) {
  // Rosetta Code "Pseudo-random numbers/Splitmix64", seed 1234567.
  uint64_t state = 1234567;
  EXPECT_EQ(splitmix64_next(state), 6457827717110365317ULL);
  EXPECT_EQ(splitmix64_next(state), 3203168211198807973ULL);
  EXPECT_EQ(splitmix64_next(state), 9817491932198370423ULL);
  EXPECT_EQ(splitmix64_next(state), 4593380528125082431ULL);
  EXPECT_EQ(splitmix64_next(state), 16408922859458223821ULL);
  // Seeding fills the state with the first four outputs.
  const Rng r(1234567);
  const std::array<uint64_t, 4> want = {6457827717110365317ULL, 3203168211198807973ULL,
                                        9817491932198370423ULL, 4593380528125082431ULL};
  EXPECT_EQ(r.state(), want);
}

TEST(Rng, Xoshiro256StarStarMatchesReferenceOutputs) {
  // Outputs of the authors' xoshiro256starstar.c from state {0, 0, 0, 1} and from the state
  // after jump(), as tabulated by an independent Fortran port's C/Fortran cross-check.
  Rng r;
  r.set_state({0, 0, 0, 1});
  const uint64_t from_one[] = {0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000001680ULL,
                               0x02d0000000001680ULL, 0x02d0005a2d001680ULL, 0x0000005a2d0b4120ULL,
                               0x68b45a5a2d0b57a0ULL, 0x68b48716ad000120ULL, 0x1cb48716b2a00288ULL,
                               0x11b10070bdeb59bcULL};
  for (uint64_t v : from_one) EXPECT_EQ(r.next_u64(), v);

  r.set_state(
      {0x934d05e8b2076310ULL, 0xeabdd0bf76a1be51ULL, 0x75dd6a992accb1e8ULL, 0xc660c602a7330187ULL});
  const uint64_t jumped[] = {0xaed8d3ed373a211aULL, 0x055baff45a8cdb8eULL, 0x4f99e3c7b7aa48f2ULL,
                             0x36634b1d710c7653ULL, 0xf9660f773c654151ULL, 0x6d5b9d0ca69a4a72ULL,
                             0x13c137b2c8a18efaULL, 0x8f201fdd0471f897ULL, 0xa17a56c3464c3f89ULL,
                             0x101e70c7c75f6456ULL};
  for (uint64_t v : jumped) EXPECT_EQ(r.next_u64(), v);
}

TEST(Rng, UniformUsesTopTwentyFourBits) {
  Rng r;
  r.set_state(
      {0x934d05e8b2076310ULL, 0xeabdd0bf76a1be51ULL, 0x75dd6a992accb1e8ULL, 0xc660c602a7330187ULL});
  // Top 24 bits of the reference outputs above, divided by 2^24.
  EXPECT_EQ(r.uniform(), static_cast<float>(0xaed8d3) / 16777216.0f);
  EXPECT_EQ(r.uniform(), static_cast<float>(0x055baf) / 16777216.0f);
  EXPECT_EQ(r.uniform(), static_cast<float>(0x4f99e3) / 16777216.0f);
  Rng z;
  z.set_state({0, 0, 0, 1});
  EXPECT_EQ(z.uniform(), 0.0f);  // first output is 0: the interval is closed at 0
  Rng big(7);
  for (int i = 0; i < 100000; ++i) {
    const float u = big.uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
  }
}

TEST(Rng, AllZeroStateIsRejected) {
  Rng r;
  EXPECT_THROW(r.set_state({0, 0, 0, 0}), Error);
}

// ---------------------------------------------------------------------------------------------
// Parameters.

TEST(Sampler, InvalidParamsThrow) {
  auto bad = [](auto set) {
    SamplingParams p;
    set(p);
    EXPECT_THROW(Sampler{p}, Error);
  };
  bad([](SamplingParams& p) { p.temperature = kNaN; });
  bad([](SamplingParams& p) { p.temperature = kInf; });
  bad([](SamplingParams& p) { p.top_p = kNaN; });
  bad([](SamplingParams& p) { p.top_p = -0.1f; });
  bad([](SamplingParams& p) { p.top_p = kInf; });
  bad([](SamplingParams& p) { p.min_p = kNaN; });
  bad([](SamplingParams& p) { p.min_p = -0.01f; });
  bad([](SamplingParams& p) { p.min_p = 1.5f; });
  bad([](SamplingParams& p) { p.repeat_penalty = 0.0f; });
  bad([](SamplingParams& p) { p.repeat_penalty = -1.0f; });
  bad([](SamplingParams& p) { p.repeat_penalty = kNaN; });
  bad([](SamplingParams& p) { p.repeat_penalty = kInf; });
  bad([](SamplingParams& p) { p.repeat_last_n = -1; });
}

TEST(Sampler, EdgeParamsAreAccepted) {
  auto ok = [](auto set) {
    SamplingParams p;
    set(p);
    EXPECT_NO_THROW(Sampler{p});
  };
  ok([](SamplingParams& p) { p.temperature = -1.0f; });  // greedy
  ok([](SamplingParams& p) { p.temperature = 0.0f; });
  ok([](SamplingParams& p) { p.top_k = -5; });  // off
  ok([](SamplingParams& p) { p.top_p = 0.0f; });
  ok([](SamplingParams& p) { p.top_p = 2.0f; });  // off
  ok([](SamplingParams& p) { p.min_p = 1.0f; });
  ok([](SamplingParams& p) { p.repeat_penalty = 0.5f; });
  ok([](SamplingParams& p) { p.repeat_last_n = 0; });
  SamplingParams p;
  p.top_k = 7;
  EXPECT_EQ(Sampler(p).params().top_k, 7);
}

// ---------------------------------------------------------------------------------------------
// Logits validation.

TEST(Sampler, NaNAndPositiveInfinityLogitsThrow) {
  for (float t : {0.0f, 0.8f}) {
    SamplingParams p;
    p.temperature = t;
    Sampler s(p);
    std::vector<float> l = {1.0f, kNaN, 2.0f};
    EXPECT_THROW(sample_once(s, l), Error);
    l[1] = kInf;
    EXPECT_THROW(sample_once(s, l), Error);
    const std::vector<float> all_neg_inf(5, -kInf);
    EXPECT_THROW(sample_once(s, all_neg_inf), Error);
    EXPECT_THROW(s.sample(nullptr, 3, {}), Error);
    EXPECT_THROW(s.sample(l.data(), 0, {}), Error);
  }
}

TEST(Sampler, NegativeInfinityTokensAreNeverPicked) {
  std::vector<float> l(8, -kInf);
  l[3] = -50.0f;
  l[6] = -52.0f;
  Sampler greedy(plain(0.0f));
  EXPECT_EQ(sample_once(greedy, l), 3);
  expect_distribution(plain(1.0f), l);
}

TEST(Sampler, RejectedRowLeavesNoPenaltyBehind) {
  SamplingParams p = plain(0.0f);
  p.repeat_penalty = 4.0f;
  Sampler s(p);
  const std::vector<float> bad = {2.0f, kNaN};
  EXPECT_THROW(sample_once(s, bad, {0}), Error);
  // With no history, token 0 must be unpenalized.
  EXPECT_EQ(sample_once(s, {2.0f, 1.0f}), 0);
}

// ---------------------------------------------------------------------------------------------
// Greedy and top-k = 1.

TEST(Sampler, GreedyPicksArgmaxTiesToLowestId) {
  for (float t : {0.0f, -1.0f}) {
    SamplingParams p;  // default truncations must not matter when greedy
    p.temperature = t;
    Sampler s(p);
    EXPECT_EQ(sample_once(s, {1.0f, 5.0f, 3.0f, 5.0f}), 1);
    EXPECT_EQ(sample_once(s, {-kInf, -3.0f, -2.0f, -2.0f}), 2);
    EXPECT_EQ(sample_once(s, {7.0f}), 0);
    EXPECT_EQ(sample_once(s, kLogits), 4);
  }
}

TEST(Sampler, TopKOneEqualsGreedyAtAnyTemperature) {
  std::vector<float> l = random_logits(1000, 11, -4.0f, 4.0f);
  const float top = *std::max_element(l.begin(), l.end());
  l[700] = top + 1.0f;
  l[300] = top + 1.0f;  // tie with 700: the lower id wins
  for (float t : {0.01f, 0.5f, 1.0f, 2.0f, 100.0f}) {
    SamplingParams p;
    p.temperature = t;
    p.top_k = 1;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    Sampler s(p);
    for (int i = 0; i < 500; ++i) ASSERT_EQ(sample_once(s, l), 300) << "temperature " << t;
  }
}

// ---------------------------------------------------------------------------------------------
// Determinism.

std::vector<int32_t> sequence(Sampler& s, int n) {
  const std::vector<float> l = random_logits(50, 3, -1.0f, 1.0f);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(sample_once(s, l));
  return out;
}

TEST(Sampler, SameSeedSameSequenceDifferentSeedDifferentSequence) {
  SamplingParams p = plain(1.0f);
  p.seed = 1;
  Sampler a(p), b(p);
  const std::vector<int32_t> sa = sequence(a, 2000);
  EXPECT_EQ(sa, sequence(b, 2000));
  p.seed = 2;
  Sampler c(p);
  const std::vector<int32_t> sc = sequence(c, 2000);
  int differ = 0;
  for (size_t i = 0; i < sa.size(); ++i) differ += sa[i] != sc[i];
  // 50 nearly uniform tokens: independent sequences agree about 1 time in 50.
  EXPECT_GT(differ, 1800);
  // reseed restarts the sequence.
  c.reseed(1);
  EXPECT_EQ(c.params().seed, 1u);
  EXPECT_EQ(sequence(c, 2000), sa);
}

// ---------------------------------------------------------------------------------------------
// Distributions against the reference.

TEST(SamplerDistribution, TemperatureOnly) {
  expect_distribution(plain(1.0f), kLogits);
  expect_distribution(plain(0.7f), kLogits);
  expect_distribution(plain(2.5f), kLogits);
}

TEST(SamplerDistribution, TopK) {
  SamplingParams p = plain(1.3f);
  p.top_k = 4;  // 3.0 (id 4), 2.0 (ids 1, 5), 1.5 (id 8)
  expect_distribution(p, kLogits);
  p.top_k = 2;  // the tie at 2.0 is cut: id 1 stays, id 5 goes
  expect_distribution(p, kLogits);
  p.top_k = 100;  // more than the vocabulary: off
  expect_distribution(p, kLogits);
}

TEST(SamplerDistribution, TopP) {
  SamplingParams p = plain(1.0f);
  p.top_p = 0.8f;
  expect_distribution(p, kLogits);
  p.top_p = 0.3f;
  expect_distribution(p, kLogits);
  p.top_p = 0.0f;  // at least one token: always the best one
  expect_distribution(p, kLogits);
}

TEST(SamplerDistribution, TopPExactBoundary) {
  // Four equally likely tokens (0.25 each, exactly representable): the cumulative probability
  // hits 0.5 exactly after two tokens, so top_p = 0.5 keeps exactly two, the lower ids.
  std::vector<float> l(8, -kInf);
  for (int id : {2, 5, 6, 7}) l[id] = 1.0f;
  SamplingParams p = plain(1.0f);
  p.top_p = 0.5f;
  Reference ref = reference(l, p, {});
  EXPECT_EQ(ref.q, (std::vector<double>{0, 0, 0.5, 0, 0, 0.5, 0, 0}));
  expect_distribution(p, l, {}, 200000, /*boundary_case=*/true);
  p.top_p = 0.75f;  // exactly three
  ref = reference(l, p, {});
  EXPECT_EQ(ref.q[6], 1.0 / 3.0);
  EXPECT_EQ(ref.q[7], 0.0);
  expect_distribution(p, l, {}, 200000, true);
  p.top_p = std::nextafter(0.5f, 1.0f);  // just above: three
  expect_distribution(p, l, {}, 200000, true);
}

TEST(SamplerDistribution, MinP) {
  SamplingParams p = plain(1.0f);
  p.min_p = 0.2f;
  expect_distribution(p, kLogits);
  p.min_p = 0.5f;
  p.temperature = 2.0f;
  expect_distribution(p, kLogits);
  p.min_p = 1.0f;  // only the tokens tied for the maximum
  expect_distribution(p, {2.0f, 1.0f, 2.0f, 0.0f}, {}, 200000, /*boundary_case=*/true);
}

TEST(SamplerDistribution, TopPUsesProbabilitiesBeforeMinP) {
  // Weights 1, 0.5 and a hundred of 0.01 (sum 2.5): p = 0.4, 0.2, 0.004 each. Top-p 0.5 keeps
  // the first two (0.4 < 0.5 <= 0.6); min-p 0.05 then drops the small ones. Had top-p seen the
  // distribution renormalized after min-p (0.67, 0.33), it would keep only the first.
  std::vector<float> l(102, std::log(0.01f));
  l[40] = 0.0f;
  l[70] = std::log(0.5f);
  SamplingParams p = plain(1.0f);
  p.top_p = 0.5f;
  p.min_p = 0.05f;
  const Reference ref = reference(l, p, {});
  EXPECT_NEAR(ref.q[40], 2.0 / 3.0, 1e-6);
  EXPECT_NEAR(ref.q[70], 1.0 / 3.0, 1e-6);
  expect_distribution(p, l);
}

TEST(SamplerDistribution, Combinations) {
  SamplingParams p = plain(0.9f);
  p.top_k = 6;
  p.top_p = 0.9f;
  p.min_p = 0.1f;
  expect_distribution(p, kLogits);
  p.repeat_penalty = 1.3f;
  p.repeat_last_n = 3;
  // Window {4, 3, 4}: id 4 (3.0 -> 3.0/1.3) and id 3 (-1.0 -> -1.3); id 1 is outside it.
  expect_distribution(p, kLogits, {1, 1, 4, 3, 4});
  SamplingParams d;  // defaults
  d.repeat_penalty = 1.1f;
  expect_distribution(d, random_logits(64, 5, -2.0f, 2.0f), {3, 9, 9, -200, 1000});
}

TEST(SamplerDistribution, LargeVocabTopK) {
  // 32000 tokens with the default parameters (top-k selection without a full sort).
  const std::vector<float> l = random_logits(32000, 17, -10.0f, 10.0f);
  expect_distribution(SamplingParams{}, l, {}, 20000);
}

TEST(SamplerDistribution, TopKTiesAndAscendingLogits) {
  SamplingParams p = plain(1.0f);
  p.top_k = 10;
  // All equal: the ten lowest ids survive, equally likely.
  expect_distribution(p, std::vector<float>(1000, 1.0f), {}, 30000);
  // Ascending logits (each token displaces the previous best) with a tie across the cut.
  std::vector<float> up(1000);
  for (size_t i = 0; i < up.size(); ++i) up[i] = 0.005f * static_cast<float>(i);
  up[988] = up[990];  // ranking 999, ..., 991, 988, 990, 989, ...: the cut splits a tie
  p.top_k = 10;
  expect_distribution(p, up, {}, 30000);
}

TEST(SamplerDistribution, LargeVocabTopPWithoutTopK) {
  // Top-p alone over 4096 tokens keeps hundreds of them, so the on-demand sort must grow
  // several times. Per-token counts are small, so frequencies are checked in rank buckets.
  const std::vector<float> l = random_logits(4096, 23, -3.0f, 3.0f);
  SamplingParams p = plain(1.0f);
  p.top_p = 0.7f;
  const Reference ref = reference(l, p, {});
  ASSERT_GT(ref.margin, 1e-5);
  std::vector<int32_t> kept;
  for (int32_t i = 0; i < 4096; ++i) {
    if (ref.q[i] > 0) kept.push_back(i);
  }
  ASSERT_GT(kept.size(), 300u);
  std::sort(kept.begin(), kept.end(), [&](int32_t a, int32_t b) { return l[a] > l[b]; });
  Sampler s(p);
  const int draws = 30000;
  const std::vector<int64_t> counts = draw_counts(s, l, {}, draws);
  constexpr int kBuckets = 10;
  std::array<double, kBuckets> want{}, got{};
  for (size_t r = 0; r < kept.size(); ++r) {
    const size_t b = r * kBuckets / kept.size();
    want[b] += ref.q[kept[r]];
    got[b] += static_cast<double>(counts[kept[r]]) / draws;
  }
  int64_t outside = 0;
  for (int32_t i = 0; i < 4096; ++i) {
    if (ref.q[i] == 0) outside += counts[i];
  }
  EXPECT_EQ(outside, 0);
  for (int b = 0; b < kBuckets; ++b) {
    const double se = std::sqrt(want[b] * (1 - want[b]) / draws);
    EXPECT_NEAR(got[b], want[b], 5 * se) << "bucket " << b;
  }
}

// ---------------------------------------------------------------------------------------------
// Repetition penalty (greedy, so the argmax shows the effect).

SamplingParams penalty(float rp, int32_t last_n = 64) {
  SamplingParams p = plain(0.0f);
  p.repeat_penalty = rp;
  p.repeat_last_n = last_n;
  return p;
}

TEST(SamplerPenalty, PositiveLogitIsDivided) {
  Sampler s(penalty(2.0f));
  const std::vector<float> l = {2.0f, 1.5f, 0.1f};
  EXPECT_EQ(sample_once(s, l), 0);
  EXPECT_EQ(sample_once(s, l, {0}), 1);  // 2.0 / 2 = 1.0 < 1.5
}

TEST(SamplerPenalty, NegativeLogitIsMultiplied) {
  Sampler s(penalty(1.5f));
  const std::vector<float> l = {-1.0f, -1.2f, -5.0f};
  EXPECT_EQ(sample_once(s, l), 0);
  EXPECT_EQ(sample_once(s, l, {0}), 1);  // -1.0 * 1.5 = -1.5 < -1.2
}

TEST(SamplerPenalty, EachDistinctTokenOnce) {
  Sampler s(penalty(2.0f));
  // Once: 2.0 / 2 = 1.0 > 0.9 keeps token 0; three times would give 0.25.
  EXPECT_EQ(sample_once(s, {2.0f, 0.9f}, {0, 0, 0}), 0);
}

TEST(SamplerPenalty, OnlyTheLastNTokens) {
  const std::vector<float> l = {2.0f, 1.5f, 0.0f, 0.0f};
  Sampler two(penalty(2.0f, 2));
  EXPECT_EQ(sample_once(two, l, {0, 3, 3}), 0);
  Sampler three(penalty(2.0f, 3));
  EXPECT_EQ(sample_once(three, l, {0, 3, 3}), 1);
  Sampler off(penalty(2.0f, 0));
  EXPECT_EQ(sample_once(off, l, {0, 3, 3}), 0);
}

TEST(SamplerPenalty, BelowOneFavoursRepeatsAndOutOfRangeIdsAreSkipped) {
  Sampler s(penalty(0.5f));
  EXPECT_EQ(sample_once(s, {1.0f, 1.5f}, {0}), 0);  // 1.0 / 0.5 = 2.0 > 1.5
  Sampler t(penalty(2.0f));
  EXPECT_EQ(sample_once(t, {2.0f, 1.5f}, {-200, 2, 99999}), 0);
}

}  // namespace
}  // namespace yopo
