// Head-mask calibration (prune/calibration.h) against a naive computation written here from
// ../shared/docs/yopo-method.md (item 2, "How a mask is made"): the test runs its own dense
// forward pass of a tiny random LLaMA in double (plain loops over the float weights, HF
// rotate-half RoPE), takes every layer's causal softmax attention from its own queries and keys,
// sums the mass each head puts on visual keys, on text keys before the image and on text keys
// after it over all query rows, and derives the ratios and the keep mask with its own loops.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.h"
#include "models/llama.h"
#include "prune/calibration.h"
#include "prune/head_mask.h"
#include "runtime/calibration_plot.h"
#include "support/random_llama.h"

namespace yopo {
namespace {

using test::PromptShape;
using test::RandomLlama;
using test::RandomLlamaSpec;

// ---------------------------------------------------------------------------------------------
// The naive computation.

// Masses [layer][head][0: visual, 1: system, 2: text after the image's start].
using NaiveMasses = std::vector<std::vector<std::array<double, 3>>>;

void naive_rms_norm(const double* x, const std::vector<float>& w, int64_t d, double eps,
                    double* out) {
  double ss = 0;
  for (int64_t c = 0; c < d; ++c) ss += x[c] * x[c];
  const double inv = 1.0 / std::sqrt(ss / double(d) + eps);
  for (int64_t c = 0; c < d; ++c) out[c] = double(w[size_t(c)]) * x[c] * inv;
}

// out = W x for W [rows, cols] (PyTorch Linear layout).
void naive_linear(const std::vector<float>& w, int64_t rows, int64_t cols, const double* x,
                  double* out) {
  for (int64_t r = 0; r < rows; ++r) {
    double acc = 0;
    for (int64_t c = 0; c < cols; ++c) acc += double(w[size_t(r * cols + c)]) * x[c];
    out[r] = acc;
  }
}

// HF rotate-half RoPE of one head vector; inverse frequencies and angles in float32 as HF
// computes them, cos/sin in double.
void naive_rope(double* v, int64_t hd, int64_t pos, double theta) {
  const int64_t half = hd / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float inv_freq =
        1.0f / float(std::pow(double(float(theta)), double(float(2 * i) / float(hd))));
    const double angle = double(float(pos) * inv_freq);
    const double a = v[i], b = v[i + half];
    v[i] = a * std::cos(angle) - b * std::sin(angle);
    v[i + half] = b * std::cos(angle) + a * std::sin(angle);
  }
}

// Dense forward of a prompt with one image segment [img_start, img_end) at positions 0..n-1.
NaiveMasses naive_masses(const RandomLlama& m, const std::vector<float>& emb, int64_t n,
                         int64_t img_start, int64_t img_end) {
  const LlamaConfig& c = m.cfg;
  const int64_t d = c.dim, H = c.n_heads, hd = c.head_dim, qd = H * hd, kvd = c.n_kv_heads * hd,
                f = c.ffn_dim, group = H / c.n_kv_heads;
  const auto sz = [](int64_t v) { return static_cast<size_t>(v); };
  std::vector<double> x(emb.begin(), emb.end()), h(sz(d)), q(sz(n * qd)), k(sz(n * kvd)),
      v(sz(n * kvd)), att(sz(n * qd)), o(sz(d)), g(sz(f)), u(sz(f)), p(sz(n));
  NaiveMasses masses(size_t(c.n_layers), std::vector<std::array<double, 3>>(size_t(H)));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const test::RandomLlamaLayer& L = m.layers[size_t(l)];
    for (int64_t i = 0; i < n; ++i) {
      naive_rms_norm(&x[size_t(i * d)], L.attn_norm, d, c.norm_eps, h.data());
      naive_linear(L.wq, qd, d, h.data(), &q[size_t(i * qd)]);
      naive_linear(L.wk, kvd, d, h.data(), &k[size_t(i * kvd)]);
      naive_linear(L.wv, kvd, d, h.data(), &v[size_t(i * kvd)]);
      for (int64_t a = 0; a < H; ++a) naive_rope(&q[size_t(i * qd + a * hd)], hd, i, c.rope_theta);
      for (int64_t a = 0; a < c.n_kv_heads; ++a)
        naive_rope(&k[size_t(i * kvd + a * hd)], hd, i, c.rope_theta);
    }
    for (int64_t head = 0; head < H; ++head) {
      const int64_t kv = head / group;
      for (int64_t i = 0; i < n; ++i) {
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j <= i; ++j) {
          double s = 0;
          for (int64_t e = 0; e < hd; ++e)
            s += q[size_t(i * qd + head * hd + e)] * k[size_t(j * kvd + kv * hd + e)];
          p[size_t(j)] = s / std::sqrt(double(hd));
          mx = std::max(mx, p[size_t(j)]);
        }
        for (int64_t j = 0; j <= i; ++j) sum += (p[size_t(j)] = std::exp(p[size_t(j)] - mx));
        for (int64_t e = 0; e < hd; ++e) att[size_t(i * qd + head * hd + e)] = 0;
        for (int64_t j = 0; j <= i; ++j) {
          const double pj = p[size_t(j)] / sum;
          const int cls = j >= img_start && j < img_end ? 0 : j < img_start ? 1 : 2;
          masses[size_t(l)][size_t(head)][size_t(cls)] += pj;
          for (int64_t e = 0; e < hd; ++e)
            att[size_t(i * qd + head * hd + e)] += pj * v[size_t(j * kvd + kv * hd + e)];
        }
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      double* xi = &x[size_t(i * d)];
      naive_linear(L.wo, d, qd, &att[size_t(i * qd)], o.data());
      for (int64_t e = 0; e < d; ++e) xi[e] += o[size_t(e)];
      naive_rms_norm(xi, L.ffn_norm, d, c.norm_eps, h.data());
      naive_linear(L.w_gate, f, d, h.data(), g.data());
      naive_linear(L.w_up, f, d, h.data(), u.data());
      for (int64_t e = 0; e < f; ++e)
        g[size_t(e)] = g[size_t(e)] / (1 + std::exp(-g[size_t(e)])) * u[size_t(e)];
      naive_linear(L.w_down, d, f, g.data(), o.data());
      for (int64_t e = 0; e < d; ++e) xi[e] += o[size_t(e)];
    }
  }
  return masses;
}

double naive_ratio(const std::array<double, 3>& m) {
  return m[0] / (m[1] + m[2]);
}

// The mask rule written out: layers 0 and 1 keep all; else active (ratio > alpha) on more than
// min_active of the samples.
HeadMask naive_mask(const std::vector<NaiveMasses>& samples, double alpha, double min_active) {
  const size_t L = samples[0].size(), H = samples[0][0].size();
  HeadMask mask(L, std::vector<uint8_t>(H, 1));
  for (size_t l = 2; l < L; ++l)
    for (size_t h = 0; h < H; ++h) {
      int count = 0;
      for (const NaiveMasses& s : samples) count += naive_ratio(s[l][h]) > alpha ? 1 : 0;
      mask[l][h] = count * 1.0 > min_active * double(samples.size()) ? 1 : 0;
    }
  return mask;
}

double average(const HeadMask& m) {
  double s = 0;
  for (const auto& row : m) s += double(std::count(row.begin(), row.end(), uint8_t(1)));
  return s / double(m.size());
}

// ---------------------------------------------------------------------------------------------
// Engine vs naive on random models.

struct Case {
  std::string name;
  RandomLlamaSpec spec;
};

class CalibrationVsNaive : public ::testing::TestWithParam<Case> {};

// Five samples of different lengths and contents.
std::vector<PromptShape> sample_shapes() {
  return {PromptShape{5, 6, 6, 4}, PromptShape{3, 6, 6, 7}, PromptShape{6, 6, 6, 2},
          PromptShape{4, 6, 6, 5}, PromptShape{2, 6, 6, 9}};
}

TEST_P(CalibrationVsNaive, RatiosAndMaskMatch) {
  const Case& tc = GetParam();
  const RandomLlama rm = test::make_random_llama(tc.spec);
  const LlamaModel model = rm.engine_model();
  const LlamaConfig& c = rm.cfg;
  ops::Context ctx(2);
  CalibrationData data(c.n_layers, c.n_heads);
  std::vector<NaiveMasses> naive;
  const std::vector<PromptShape> shapes = sample_shapes();
  for (size_t s = 0; s < shapes.size(); ++s) {
    const PromptShape& ps = shapes[s];
    const std::vector<float> emb = test::random_prompt(rm, ps, 1000 + s);
    const int64_t n = ps.total();
    std::vector<int32_t> pos(static_cast<size_t>(n));
    std::iota(pos.begin(), pos.end(), 0);
    const TokenLayout layout = ps.layout();
    const SampleAttention sa =
        measure_prefill_attention(model, ctx, emb.data(), pos.data(), n, layout);
    naive.push_back(naive_masses(rm, emb, n, ps.prefix, ps.prefix + ps.grid_rows * ps.grid_cols));
    EXPECT_EQ(sa.rows, n);
    for (int64_t l = 0; l < c.n_layers; ++l)
      for (int64_t h = 0; h < c.n_heads; ++h) {
        const auto& want = naive.back()[size_t(l)][size_t(h)];
        const double r = naive_ratio(want);
        EXPECT_LE(std::fabs(sa.ratio(l, h) - r), 1e-4 * r)
            << tc.name << " sample " << s << " layer " << l << " head " << h;
        const double share = want[0] / (want[0] + want[1] + want[2]);
        EXPECT_LE(std::fabs(sa.visual_share(l, h) - share), 1e-4 * share);
        // Each query row's probabilities sum to one.
        EXPECT_NEAR(sa.visual[sa.index(l, h)] + sa.system[sa.index(l, h)] + sa.text[sa.index(l, h)],
                    double(n), 1e-6 * double(n));
      }
    data.add(sa);
  }
  ASSERT_EQ(data.n_samples(), int64_t(shapes.size()));

  // Alphas at several quantiles of the prunable layers' ratios, each moved to the middle of the
  // gap to its next ratio so that float rounding cannot flip a head.
  std::vector<double> all;
  for (const NaiveMasses& s : naive)
    for (size_t l = 2; l < s.size(); ++l)
      for (const auto& m : s[l]) all.push_back(naive_ratio(m));
  std::sort(all.begin(), all.end());
  int nontrivial = 0;
  for (double q : {0.2, 0.4, 0.5, 0.6, 0.8}) {
    size_t i = std::min(all.size() - 2, size_t(q * double(all.size())));
    while (i + 2 < all.size() && all[i + 1] - all[i] < 1e-3 * all[i + 1]) ++i;
    const double alpha = (all[i] + all[i + 1]) / 2;
    ASSERT_GT(all[i + 1] - all[i], 1e-3 * alpha) << "ratios too close to separate";
    const HeadMask want = naive_mask(naive, alpha, 0.4);
    const HeadMask got = calibrate_head_mask(data, alpha, 0.4);
    EXPECT_EQ(got, want) << tc.name << " alpha " << alpha;
    const double avg = average(want);
    nontrivial += avg > 2.0 * double(c.n_heads) / double(c.n_layers) && avg < double(c.n_heads);
  }
  EXPECT_GE(nontrivial, 2) << "the chosen alphas should give partly pruned masks";

  // Target search: the achieved average is the closest any alpha can reach (every observed
  // ratio as alpha, plus one below them all).
  for (double target : {1.5, 2.2, 3.0, 3.7}) {
    if (target > double(c.n_heads)) continue;
    const AlphaSearch r = find_alpha_for_target(data, target, 0.4);
    double best = std::fabs(average(naive_mask(naive, -1.0, 0.4)) - target);
    for (double a : all)
      best = std::min(best, std::fabs(average(naive_mask(naive, a, 0.4)) - target));
    EXPECT_NEAR(std::fabs(r.average_kept - target), best, 1e-12) << "target " << target;
    EXPECT_EQ(r.average_kept, average(r.mask));
    EXPECT_EQ(r.mask, calibrate_head_mask(data, r.alpha, 0.4));
  }

  // Profile: per-layer means of the naive shares and ratios.
  const HeadMask mask = calibrate_head_mask(data, all[all.size() / 2], 0.4);
  const std::vector<LayerProfile> prof = layer_profile(data, mask);
  ASSERT_EQ(prof.size(), size_t(c.n_layers));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    double share = 0, ratio = 0;
    for (const NaiveMasses& s : naive)
      for (const auto& m : s[size_t(l)]) {
        share += m[0] / (m[0] + m[1] + m[2]);
        ratio += naive_ratio(m);
      }
    const double cells = double(naive.size()) * double(c.n_heads);
    EXPECT_NEAR(prof[size_t(l)].visual_share, share / cells, 1e-4 * share / cells);
    EXPECT_NEAR(prof[size_t(l)].mean_ratio, ratio / cells, 1e-4 * ratio / cells);
    EXPECT_EQ(prof[size_t(l)].kept_heads,
              std::count(mask[size_t(l)].begin(), mask[size_t(l)].end(), uint8_t(1)));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, CalibrationVsNaive,
    ::testing::Values(Case{"mha", RandomLlamaSpec{64, 4, 4, 16, 5, 96, 97, 31}},
                      Case{"gqa", RandomLlamaSpec{80, 8, 2, 12, 5, 160, 97, 37}}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// ---------------------------------------------------------------------------------------------
// The mask rule and the alpha search on constructed ratios.

// n_layers x n_heads data whose samples give head (l, h) the ratio f(sample, l, h).
template <class F>
CalibrationData constructed(int64_t layers, int64_t heads, int64_t samples, F f) {
  CalibrationData d(layers, heads);
  for (int64_t s = 0; s < samples; ++s) {
    std::vector<double> r, share;
    for (int64_t l = 0; l < layers; ++l)
      for (int64_t h = 0; h < heads; ++h) {
        r.push_back(f(s, l, h));
        share.push_back(r.back() / (1 + r.back()));
      }
    d.add_ratios(r, share);
  }
  return d;
}

TEST(CalibrationMask, LayersZeroAndOneAlwaysKept) {
  // Every ratio 0: no head is ever active, yet layers 0 and 1 keep all.
  const CalibrationData d = constructed(4, 3, 5, [](int64_t, int64_t, int64_t) { return 0.0; });
  const HeadMask m = calibrate_head_mask(d, 0.5, 0.4);
  const HeadMask want = {{1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}};
  EXPECT_EQ(m, want);
  EXPECT_EQ(average_kept_heads(m), 1.5);
}

TEST(CalibrationMask, AlphaAboveEveryRatioKeepsNothingElse) {
  const CalibrationData d = constructed(5, 4, 3, [](int64_t s, int64_t l, int64_t h) {
    return 0.1 * double(s + 1) + 0.3 * double(l) + 0.05 * double(h);
  });
  const HeadMask m = calibrate_head_mask(d, 100.0, 0.4);
  for (size_t l = 0; l < m.size(); ++l)
    for (uint8_t k : m[l]) EXPECT_EQ(k, l < 2 ? 1 : 0) << "layer " << l;
  // Alpha below every ratio keeps everything.
  const HeadMask all = calibrate_head_mask(d, 0.0, 0.4);
  EXPECT_EQ(average_kept_heads(all), 4.0);
}

TEST(CalibrationMask, MoreThanMinActiveIsStrict) {
  // 5 samples; head h of layer 2 is active (ratio 1 > alpha 0.5) on the first h + 1 samples...
  const CalibrationData d = constructed(
      3, 5, 5, [](int64_t s, int64_t l, int64_t h) { return l == 2 && s <= h ? 1.0 : 0.0; });
  // ...so active shares are 0.2, 0.4, 0.6, 0.8, 1.0: "more than 0.4" keeps heads 2, 3, 4.
  EXPECT_EQ(calibrate_head_mask(d, 0.5, 0.4)[2], (std::vector<uint8_t>{0, 0, 1, 1, 1}));
  EXPECT_EQ(calibrate_head_mask(d, 0.5, 0.0)[2], (std::vector<uint8_t>{1, 1, 1, 1, 1}));
  EXPECT_EQ(calibrate_head_mask(d, 0.5, 0.79)[2], (std::vector<uint8_t>{0, 0, 0, 1, 1}));
  // ratio == alpha is not active.
  EXPECT_EQ(calibrate_head_mask(d, 1.0, 0.0)[2], (std::vector<uint8_t>{0, 0, 0, 0, 0}));
  EXPECT_THROW(calibrate_head_mask(d, 0.5, 1.5), Error);
  EXPECT_THROW(calibrate_head_mask(CalibrationData(3, 5), 0.5, 0.4), Error);
}

TEST(CalibrationMask, TargetHeadsSearch) {
  // 4 layers of 4 heads, one sample; layers 2 and 3 hold the 8 distinct ratios 1..8
  // (layer 2: 1, 3, 5, 7; layer 3: 2, 4, 6, 8). Keeping the k largest gives an average of
  // (4 + 4 + k) / 4 = 2 + k / 4 heads per layer.
  const CalibrationData d = constructed(4, 4, 1, [](int64_t, int64_t l, int64_t h) {
    return l < 2 ? 0.01 : double(2 * h + (l - 2) + 1);
  });
  // 3.0 is reachable exactly: k = 4, the ratios 5..8 kept.
  AlphaSearch r = find_alpha_for_target(d, 3.0);
  EXPECT_EQ(r.average_kept, 3.0);
  EXPECT_GT(r.alpha, 4.0);
  EXPECT_LT(r.alpha, 5.0);
  EXPECT_EQ(r.mask[2], (std::vector<uint8_t>{0, 0, 1, 1}));
  EXPECT_EQ(r.mask[3], (std::vector<uint8_t>{0, 0, 1, 1}));
  EXPECT_EQ(r.mask, calibrate_head_mask(d, r.alpha));
  // 2.6: 2.5 (k = 2) is closer than 2.75 (k = 3).
  EXPECT_EQ(find_alpha_for_target(d, 2.6).average_kept, 2.5);
  // 2.625 lies halfway between 2.5 and 2.75: the tie keeps more heads.
  EXPECT_EQ(find_alpha_for_target(d, 2.625).average_kept, 2.75);
  // The extremes: everything kept; only layers 0 and 1.
  r = find_alpha_for_target(d, 4.0);
  EXPECT_EQ(r.average_kept, 4.0);
  EXPECT_LT(r.alpha, 1.0);
  r = find_alpha_for_target(d, 0.0);
  EXPECT_EQ(r.average_kept, 2.0);
  EXPECT_GT(r.alpha, 8.0);
  EXPECT_THROW(find_alpha_for_target(d, 4.5), Error);
  EXPECT_THROW(find_alpha_for_target(d, -1), Error);
}

TEST(CalibrationMask, TargetHeadsSearchWithMinActive) {
  // 10 samples, 3 layers of 8 heads; head h of layer 2 has ratio h + s / 10 on sample s.
  // With min_active 0.4 head h is kept when more than 4 of its 10 ratios exceed alpha.
  const CalibrationData d = constructed(3, 8, 10, [](int64_t s, int64_t l, int64_t h) {
    return l == 2 ? double(h) + double(s) / 10 : 5.0;
  });
  for (int k = 0; k <= 8; ++k) {
    // Average (16 + k) / 3 is reachable for every k.
    const double target = (16.0 + k) / 3.0;
    const AlphaSearch r = find_alpha_for_target(d, target, 0.4);
    EXPECT_NEAR(r.average_kept, target, 1e-12) << "k " << k;
    EXPECT_EQ(std::count(r.mask[2].begin(), r.mask[2].end(), uint8_t(1)), k);
    // The kept heads are the k with the largest ratios.
    for (int h = 0; h < 8; ++h) EXPECT_EQ(r.mask[2][size_t(h)], h >= 8 - k ? 1 : 0);
  }
}

TEST(CalibrationAttention, SmallHandWorkedLayer) {
  // 1 head of dim 2, 4 rows: text, visual, visual, text; q = k = 0 everywhere so each query row
  // i spreads 1 / (i + 1) over keys 0..i. Row masses:
  //   row 0: S 1; row 1: S 1/2, V 1/2; row 2: S 1/3, V 2/3; row 3: S 1/4, V 2/4, T 1/4.
  const std::vector<float> q(8, 0.0f), k(8, 0.0f);
  TokenLayout layout;
  layout.images.push_back(VisualSegment{1, 1, 2});
  SampleAttention s;
  s.n_layers = 1;
  s.n_heads = 1;
  s.visual.assign(1, 0);
  s.system.assign(1, 0);
  s.text.assign(1, 0);
  add_layer_attention_masses(q.data(), 2, k.data(), 2, 4, AttentionGeometry{1, 1, 2}, layout, 0, s);
  EXPECT_NEAR(s.system[0], 1 + 0.5 + 1.0 / 3 + 0.25, 1e-6);
  EXPECT_NEAR(s.visual[0], 0.5 + 2.0 / 3 + 0.5, 1e-6);
  EXPECT_NEAR(s.text[0], 0.25, 1e-6);
  EXPECT_NEAR(s.ratio(0, 0), (0.5 + 2.0 / 3 + 0.5) / (1 + 0.5 + 1.0 / 3 + 0.25 + 0.25), 1e-6);
  // No image, or only image rows: clear errors.
  EXPECT_THROW(add_layer_attention_masses(q.data(), 2, k.data(), 2, 4, AttentionGeometry{1, 1, 2},
                                          TokenLayout{}, 0, s),
               Error);
  TokenLayout all;
  all.images.push_back(VisualSegment{0, 2, 2});
  EXPECT_THROW(add_layer_attention_masses(q.data(), 2, k.data(), 2, 4, AttentionGeometry{1, 1, 2},
                                          all, 0, s),
               Error);
}

TEST(CalibrationProfile, CsvAndSvg) {
  const CalibrationData d = constructed(3, 2, 2, [](int64_t s, int64_t l, int64_t h) {
    return double(l) + double(h) + double(s);  // l + h + s
  });
  const HeadMask m = calibrate_head_mask(d, 2.5, 0.4);
  const std::vector<LayerProfile> p = layer_profile(d, m);
  // Layer 2: ratios 2, 3 (s = 0), 3, 4 (s = 1): mean 3; kept: head 0 active on 1 of 2, head 1 on 2.
  ASSERT_EQ(p.size(), 3u);
  EXPECT_DOUBLE_EQ(p[2].mean_ratio, 3.0);
  EXPECT_DOUBLE_EQ(p[2].visual_share, (2.0 / 3 + 3.0 / 4 + 3.0 / 4 + 4.0 / 5) / 4);
  EXPECT_EQ(p[2].kept_heads, 2);
  const std::string csv = profile_csv(p);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "layer,visual_share,mean_ratio,kept_heads");
  EXPECT_NE(csv.find("\n2,0.74166667,3,2\n"), std::string::npos) << csv;
  const std::string svg = profile_svg(p, "test <profile>");
  EXPECT_EQ(svg.rfind("<svg", 0) == 0 || svg.rfind("<?xml", 0) == 0, true) << svg.substr(0, 80);
  EXPECT_NE(svg.find("test &lt;profile&gt;"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_THROW(profile_svg({}, "x"), Error);
}

}  // namespace
}  // namespace yopo
