// The decoder's YOPO visual pruning (exact and fast semantics, every technique alone and
// combined) against a naive reference written from ../shared/docs/yopo-method.md
// (tests/support/random_llama.cpp: plain loops in double, the whole sequence recomputed at every
// step), on tiny random models: prefill of a prompt with one image, then 8 greedy decode steps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <ostream>
#include <string>

#include "core/error.h"
#include "models/llama.h"
#include "support/random_llama.h"

namespace yopo {
namespace {

using test::PromptShape;
using test::RandomLlama;
using test::RandomLlamaSpec;

// Max abs logit error allowed, relative to max(1, max |logit|): the engine runs in float32 (its
// own summation order), the reference in double.
constexpr double kTol = 1e-5;
constexpr int kDecodeSteps = 8;

struct ModelShape {
  std::string name;
  RandomLlamaSpec spec;
  PromptShape prompt;
};

// (a) MHA: dim 64, 4 heads of 16, 3 layers, FFN 96, vocab 97, 6x6 image after 5 text rows.
ModelShape mha_shape() {
  return {"mha", RandomLlamaSpec{64, 4, 4, 16, 3, 96, 97, 11}, PromptShape{5, 6, 6, 4}};
}
// (b) GQA: 8 heads of 12 (n_heads * head_dim = 96 != dim = 80), 2 KV heads, odd 7x7 grid.
ModelShape gqa_shape() {
  return {"gqa", RandomLlamaSpec{80, 8, 2, 12, 3, 160, 97, 23}, PromptShape{3, 7, 7, 4}};
}

enum class Technique {
  Window1,   // window radius 1 in every layer
  Window2,   // window radius 2 in every layer
  Heads,     // random head masks; layer 0 keeps every head
  CutFrom1,  // visual_active = false from layer 1
  CutFrom2,  // visual_active = false from layer 2
  FfnHalf,   // visual FFN width m / 2
  FfnThird,  // visual FFN width m / 3
  AllCut,    // window 1 + heads + FFN m / 2 + cut from layer 2
  AllNoCut,  // window 2 + heads + FFN m / 3, every layer active
};

const char* technique_name(Technique t) {
  switch (t) {
    case Technique::Window1:
      return "Window1";
    case Technique::Window2:
      return "Window2";
    case Technique::Heads:
      return "Heads";
    case Technique::CutFrom1:
      return "CutFrom1";
    case Technique::CutFrom2:
      return "CutFrom2";
    case Technique::FfnHalf:
      return "FfnHalf";
    case Technique::FfnThird:
      return "FfnThird";
    case Technique::AllCut:
      return "AllCut";
    case Technique::AllNoCut:
      return "AllNoCut";
  }
  return "?";
}

// Random head masks: layer 0 keeps all heads (as the released masks do), every other layer
// prunes at least one head and keeps at least one; with GQA the last layer prunes every query
// head of KV group 0 (so that group's visual K/V serve no kept head).
std::vector<std::vector<uint8_t>> random_head_masks(const LlamaConfig& c, uint64_t seed) {
  test::TestRng rng(seed);
  std::vector<std::vector<uint8_t>> masks(size_t(c.n_layers));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    std::vector<uint8_t>& m = masks[size_t(l)];
    m.assign(size_t(c.n_heads), 1);
    if (l == 0) continue;
    for (uint8_t& k : m) k = uint8_t(rng.below(2));
    if (std::count(m.begin(), m.end(), 0) == 0) m[size_t(rng.below(c.n_heads))] = 0;
    if (std::count(m.begin(), m.end(), 1) == 0) m[size_t(rng.below(c.n_heads))] = 1;
    if (c.n_kv_heads < c.n_heads && l == c.n_layers - 1) {
      const int64_t group = c.n_heads / c.n_kv_heads;
      std::fill(m.begin(), m.begin() + group, uint8_t(0));
      m[size_t(c.n_heads - 1)] = 1;
    }
  }
  return masks;
}

PruningPlan make_plan(Technique t, PruneSemantics sem, const LlamaConfig& c) {
  PruningPlan p;
  p.name = technique_name(t);
  p.semantics = sem;
  p.layers.assign(size_t(c.n_layers), LayerPlan{});
  const auto masks = random_head_masks(c, 77);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerPlan& lp = p.layers[size_t(l)];
    switch (t) {
      case Technique::Window1:
        lp.window_radius = 1;
        break;
      case Technique::Window2:
        lp.window_radius = 2;
        break;
      case Technique::Heads:
        lp.head_keep = masks[size_t(l)];
        break;
      case Technique::CutFrom1:
        lp.visual_active = l < 1;
        break;
      case Technique::CutFrom2:
        lp.visual_active = l < 2;
        break;
      case Technique::FfnHalf:
        lp.ffn_width = c.ffn_dim / 2;
        break;
      case Technique::FfnThird:
        lp.ffn_width = c.ffn_dim / 3;
        break;
      case Technique::AllCut:
        lp.window_radius = 1;
        lp.head_keep = masks[size_t(l)];
        lp.ffn_width = c.ffn_dim / 2;
        lp.visual_active = l < 2;
        break;
      case Technique::AllNoCut:
        lp.window_radius = 2;
        lp.head_keep = masks[size_t(l)];
        lp.ffn_width = c.ffn_dim / 3;
        break;
    }
  }
  return p;
}

double max_abs(const double* v, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(v[i]));
  return m;
}

// Max |engine - reference| over n logits, divided by max(1, max |reference|).
double rel_error(const float* engine, const double* ref, int64_t n) {
  double e = 0;
  for (int64_t i = 0; i < n; ++i) e = std::max(e, std::fabs(double(engine[i]) - ref[i]));
  return e / std::max(1.0, max_abs(ref, n));
}

double rel_diff(const double* a, const double* b, int64_t n) {
  double e = 0;
  for (int64_t i = 0; i < n; ++i) e = std::max(e, std::fabs(a[i] - b[i]));
  return e / std::max(1.0, max_abs(b, n));
}

// One engine run: prefill (last-row logits) then kDecodeSteps single tokens, the tokens given.
struct EngineRun {
  std::vector<std::vector<float>> logits;  // [1 + steps][vocab]
  FlopCounter flops;
};

EngineRun run_engine(const LlamaModel& model, const std::vector<float>& prompt, int64_t n0,
                     const TokenLayout& layout, const PruningPlan* plan,
                     const std::vector<int32_t>& tokens, const RandomLlama& rm,
                     bool prefill_all_logits = false) {
  ops::Context ctx(2);
  const int64_t d = model.config().dim;
  KvCache cache = model.make_cache(n0 + int64_t(tokens.size()));
  std::vector<int32_t> pos(size_t(n0) + tokens.size());
  std::iota(pos.begin(), pos.end(), 0);
  EngineRun r;
  DecoderBatch b{prompt.data(), n0, pos.data(), &layout, prefill_all_logits, plan, &r.flops};
  r.logits.push_back(model.forward(ctx, cache, b));
  const TokenLayout empty;
  for (size_t t = 0; t < tokens.size(); ++t) {
    std::vector<float> e(rm.embedding_row(tokens[t]), rm.embedding_row(tokens[t]) + d);
    // Alternate between no layout and an empty one: both mean "all text".
    const TokenLayout* dl = t % 2 ? &empty : nullptr;
    DecoderBatch db{e.data(), 1, &pos[size_t(n0) + t], dl, false, plan, &r.flops};
    r.logits.push_back(model.forward(ctx, cache, db));
  }
  return r;
}

// The reference: last-row logits of the prompt, then of each decode step, the decode token
// being the argmax of the previous reference logits.
struct ReferenceRun {
  std::vector<std::vector<double>> logits;  // [1 + steps][vocab]
  std::vector<int32_t> tokens;              // [steps]
};

ReferenceRun run_reference(const RandomLlama& rm, const std::vector<float>& prompt, int64_t n0,
                           const TokenLayout& layout, const PruningPlan* plan, int steps) {
  const int64_t d = rm.cfg.dim, V = rm.cfg.vocab_size;
  std::vector<float> seq = prompt;
  ReferenceRun r;
  for (int s = 0; s <= steps; ++s) {
    const int64_t n = n0 + s;
    const std::vector<double> all = test::reference_logits(rm, seq.data(), n, layout, plan);
    r.logits.emplace_back(all.begin() + (n - 1) * V, all.begin() + n * V);
    if (s == steps) break;
    const int32_t tok = test::argmax_row(all, V, n - 1);
    r.tokens.push_back(tok);
    seq.insert(seq.end(), rm.embedding_row(tok), rm.embedding_row(tok) + d);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------

struct PlanCase {
  ModelShape shape;
  Technique technique;
  PruneSemantics semantics;
};

// gtest prints a failing case's parameter with this (else as raw bytes).
void PrintTo(const PlanCase& c, std::ostream* os) {
  *os << c.shape.name << " " << technique_name(c.technique) << " " << semantics_name(c.semantics);
}

std::string case_name(const ::testing::TestParamInfo<PlanCase>& info) {
  return info.param.shape.name + "_" + technique_name(info.param.technique) + "_" +
         semantics_name(info.param.semantics);
}

std::vector<PlanCase> all_plan_cases() {
  std::vector<PlanCase> v;
  for (const ModelShape& s : {mha_shape(), gqa_shape()})
    for (Technique t : {Technique::Window1, Technique::Window2, Technique::Heads,
                        Technique::CutFrom1, Technique::CutFrom2, Technique::FfnHalf,
                        Technique::FfnThird, Technique::AllCut, Technique::AllNoCut})
      for (PruneSemantics sem : {PruneSemantics::Exact, PruneSemantics::Fast})
        v.push_back({s, t, sem});
  return v;
}

class YopoPlan : public ::testing::TestWithParam<PlanCase> {};

TEST_P(YopoPlan, PrefillAndDecodeMatchNaiveReference) {
  const PlanCase& pc = GetParam();
  const RandomLlama rm = test::make_random_llama(pc.shape.spec);
  const LlamaModel model = rm.engine_model();
  const PromptShape& ps = pc.shape.prompt;
  const TokenLayout layout = ps.layout();
  const int64_t n0 = ps.total(), V = rm.cfg.vocab_size;
  const std::vector<float> prompt = test::random_prompt(rm, ps, 5);
  const PruningPlan plan = make_plan(pc.technique, pc.semantics, rm.cfg);

  const ReferenceRun ref = run_reference(rm, prompt, n0, layout, &plan, kDecodeSteps);
  // The plan must change the reference's logits by far more than the tolerance, else this test
  // could not tell a pruned engine from a dense one.
  const ReferenceRun dense = run_reference(rm, prompt, n0, layout, nullptr, 0);
  EXPECT_GT(rel_diff(ref.logits[0].data(), dense.logits[0].data(), V), 100 * kTol)
      << "the plan has no visible effect on the reference";

  const EngineRun eng = run_engine(model, prompt, n0, layout, &plan, ref.tokens, rm);
  ASSERT_EQ(eng.logits.size(), ref.logits.size());
  // How far the engine is from the dense reference (about 0 when it ignores the plan).
  const double vs_dense = rel_error(eng.logits[0].data(), dense.logits[0].data(), V);
  double worst = 0;
  for (size_t s = 0; s < ref.logits.size(); ++s) {
    ASSERT_EQ(int64_t(eng.logits[s].size()), V) << "step " << s;
    const double e = rel_error(eng.logits[s].data(), ref.logits[s].data(), V);
    worst = std::max(worst, e);
    EXPECT_LE(e, kTol) << (s == 0 ? std::string("prefill") : "decode step " + std::to_string(s))
                       << ": logits differ from the reference by " << e
                       << " (relative to max(1, max|logit|)); the engine's prefill differs from "
                       << "the dense reference by " << vs_dense;
  }
  std::printf("[ measured ] %s_%s_%s: worst relative logit error %.3g\n", pc.shape.name.c_str(),
              technique_name(pc.technique), semantics_name(pc.semantics), worst);

  // FLOPs were counted for both kinds of rows.
  EXPECT_GT(eng.flops.visual_total().total(), 0);
  EXPECT_GT(eng.flops.text_total().total(), 0);
  // Fast semantics: from the first inactive layer on, visual rows cost nothing.
  if (pc.semantics == PruneSemantics::Fast) {
    bool gone = false;
    for (int64_t l = 0; l < rm.cfg.n_layers; ++l) {
      gone = gone || !plan.layers[size_t(l)].visual_active;
      if (gone && size_t(l) < eng.flops.layers.size()) {
        EXPECT_EQ(eng.flops.layers[size_t(l)].visual.total(), 0) << "layer " << l;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Techniques, YopoPlan, ::testing::ValuesIn(all_plan_cases()), case_name);

// ---------------------------------------------------------------------------------------------
// Prefill in several batches (image segments inside one batch each) and prompts with two images:
// every row's logits (where the reference defines them) and a few decode steps.

struct SplitCase {
  std::string name;
  RandomLlamaSpec spec;
  TokenLayout layout;
  int64_t n0;                    // prompt rows
  std::vector<int64_t> batches;  // prefill batch sizes, summing to n0
  Technique technique;
  PruneSemantics semantics;
};

void PrintTo(const SplitCase& c, std::ostream* os) {
  *os << c.name << " " << technique_name(c.technique) << " " << semantics_name(c.semantics);
}

std::vector<SplitCase> split_cases() {
  const ModelShape g = gqa_shape();
  const TokenLayout one = g.prompt.layout();  // 3 text, 7x7 image, 4 text
  const int64_t n1 = g.prompt.total();
  // Two 6x6 images with two text rows between them.
  TokenLayout two;
  two.images = {VisualSegment{3, 6, 6}, VisualSegment{41, 6, 6}};
  const int64_t n2 = 80;
  struct Scenario {
    std::string name;
    RandomLlamaSpec spec;
    TokenLayout layout;
    int64_t n0;
    std::vector<int64_t> batches;
  };
  const std::vector<Scenario> scenarios = {
      {"gqa_prefix_then_image", g.spec, one, n1, {3, n1 - 3}},
      {"gqa_image_then_suffix", g.spec, one, n1, {52, n1 - 52}},
      {"gqa_three_batches", g.spec, one, n1, {3, 49, n1 - 52}},
      {"mha_two_images", mha_shape().spec, two, n2, {n2}},
      {"mha_two_images_split", mha_shape().spec, two, n2, {41, n2 - 41}},
  };
  std::vector<SplitCase> v;
  for (const Scenario& sc : scenarios)
    for (Technique t : {Technique::Window1, Technique::Heads, Technique::CutFrom1,
                        Technique::AllCut, Technique::AllNoCut})
      for (PruneSemantics sem : {PruneSemantics::Exact, PruneSemantics::Fast})
        v.push_back({sc.name, sc.spec, sc.layout, sc.n0, sc.batches, t, sem});
  return v;
}

std::string split_case_name(const ::testing::TestParamInfo<SplitCase>& info) {
  return info.param.name + "_" + technique_name(info.param.technique) + "_" +
         semantics_name(info.param.semantics);
}

class YopoPlanBatches : public ::testing::TestWithParam<SplitCase> {};

TEST_P(YopoPlanBatches, EveryRowMatchesNaiveReference) {
  const SplitCase& sc = GetParam();
  constexpr int kSteps = 4;
  const RandomLlama rm = test::make_random_llama(sc.spec);
  const LlamaModel model = rm.engine_model();
  const int64_t n0 = sc.n0, d = rm.cfg.dim, V = rm.cfg.vocab_size;
  const std::vector<float> prompt = test::random_embeddings(rm, sc.layout, n0, 5);
  const PruningPlan plan = make_plan(sc.technique, sc.semantics, rm.cfg);
  const ReferenceRun ref = run_reference(rm, prompt, n0, sc.layout, &plan, kSteps);
  const std::vector<double> ref_rows =
      test::reference_logits(rm, prompt.data(), n0, sc.layout, &plan);

  ops::Context ctx(2);
  KvCache cache = model.make_cache(n0 + kSteps);
  std::vector<int32_t> pos(static_cast<size_t>(n0 + kSteps));
  std::iota(pos.begin(), pos.end(), 0);
  FlopCounter flops;
  std::vector<float> got;
  int64_t at = 0;
  for (int64_t nb : sc.batches) {
    TokenLayout bl;  // this batch's images, in batch coordinates
    for (const VisualSegment& s : sc.layout.images) {
      if (s.start >= at && s.end() <= at + nb)
        bl.images.push_back({s.start - at, s.grid_rows, s.grid_cols});
      else
        ASSERT_TRUE(s.end() <= at || s.start >= at + nb) << "test setup: image split by a batch";
    }
    const std::vector<float> l = model.forward(
        ctx, cache, {prompt.data() + at * d, nb, pos.data() + at, &bl, true, &plan, &flops});
    got.insert(got.end(), l.begin(), l.end());
    at += nb;
  }
  ASSERT_EQ(at, n0);
  ASSERT_EQ(int64_t(got.size()), n0 * V);
  double worst = 0;
  for (int64_t i = 0; i < n0; ++i) {
    const double* r = &ref_rows[size_t(i * V)];
    if (std::isnan(r[0])) continue;  // a visual row the fast semantics removed
    const double e = rel_error(&got[size_t(i * V)], r, V);
    worst = std::max(worst, e);
    EXPECT_LE(e, kTol) << "prefill row " << i << (sc.layout.is_visual(i) ? " (visual)" : "");
  }
  for (int s = 0; s < kSteps; ++s) {
    const int32_t tok = ref.tokens[size_t(s)];
    const std::vector<float> l = model.forward(
        ctx, cache, {rm.embedding_row(tok), 1, pos.data() + n0 + s, nullptr, false, &plan, &flops});
    ASSERT_EQ(int64_t(l.size()), V);
    const double e = rel_error(l.data(), ref.logits[size_t(s + 1)].data(), V);
    worst = std::max(worst, e);
    EXPECT_LE(e, kTol) << "decode step " << s + 1;
  }
  std::printf("[ measured ] %s: worst relative logit error %.3g\n",
              split_case_name({sc, 0}).c_str(), worst);
}

INSTANTIATE_TEST_SUITE_P(Scenarios, YopoPlanBatches, ::testing::ValuesIn(split_cases()),
                         split_case_name);

// Self-checks of the reference: techniques that do not involve pruned heads mean the same in
// both semantics; head pruning and layer cuts do not.
TEST(YopoReference, SemanticsAgreeExactlyWhereTheyShould) {
  for (const ModelShape& s : {mha_shape(), gqa_shape()}) {
    const RandomLlama rm = test::make_random_llama(s.spec);
    const std::vector<float> prompt = test::random_prompt(rm, s.prompt, 5);
    const TokenLayout layout = s.prompt.layout();
    const int64_t n = s.prompt.total(), V = rm.cfg.vocab_size;
    for (Technique t : {Technique::Window1, Technique::Window2, Technique::Heads,
                        Technique::CutFrom1, Technique::CutFrom2, Technique::FfnHalf,
                        Technique::FfnThird, Technique::AllCut, Technique::AllNoCut}) {
      const PruningPlan pe = make_plan(t, PruneSemantics::Exact, rm.cfg);
      const PruningPlan pf = make_plan(t, PruneSemantics::Fast, rm.cfg);
      const std::vector<double> le = test::reference_logits(rm, prompt.data(), n, layout, &pe);
      const std::vector<double> lf = test::reference_logits(rm, prompt.data(), n, layout, &pf);
      const double diff = rel_diff(&le[size_t((n - 1) * V)], &lf[size_t((n - 1) * V)], V);
      // The random model's logits are O(1).
      const double scale = max_abs(&le[size_t((n - 1) * V)], V);
      EXPECT_GT(scale, 0.5) << s.name;
      EXPECT_LT(scale, 20) << s.name;
      const bool same = t == Technique::Window1 || t == Technique::Window2 ||
                        t == Technique::FfnHalf || t == Technique::FfnThird;
      if (same) {
        EXPECT_LT(diff, 1e-12) << s.name << " " << technique_name(t);
      } else {
        EXPECT_GT(diff, 100 * kTol) << s.name << " " << technique_name(t);
      }
    }
  }
}

// A window wider than the image sees every visual token (later ones too): it is not causal, so
// the reference must differ from the dense one, and radius 0 leaves visual queries the earlier
// text and themselves only.
TEST(YopoReference, WindowIsNotCausal) {
  const ModelShape s = mha_shape();
  const RandomLlama rm = test::make_random_llama(s.spec);
  const std::vector<float> prompt = test::random_prompt(rm, s.prompt, 5);
  const TokenLayout layout = s.prompt.layout();
  const int64_t n = s.prompt.total(), V = rm.cfg.vocab_size;
  PruningPlan wide;
  wide.layers.assign(size_t(rm.cfg.n_layers), LayerPlan{});
  for (LayerPlan& l : wide.layers) l.window_radius = 100;
  const auto a = test::reference_logits(rm, prompt.data(), n, layout, &wide);
  const auto b = test::reference_logits(rm, prompt.data(), n, layout, nullptr);
  EXPECT_GT(rel_diff(&a[size_t((n - 1) * V)], &b[size_t((n - 1) * V)], V), 100 * kTol);
  // Text rows before the image are untouched by any visual pruning.
  for (int64_t i = 0; i < s.prompt.prefix; ++i)
    EXPECT_LT(rel_diff(&a[size_t(i * V)], &b[size_t(i * V)], V), 1e-12) << "row " << i;
}

// A plan whose every layer is dense (head masks empty or all ones) must give the plan-free
// logits bit for bit, in both semantics, with or without a layout, prefill and decode.
TEST(YopoPlanDense, SwitchedOffIsDenseBitForBit) {
  for (const ModelShape& s : {mha_shape(), gqa_shape()}) {
    const RandomLlama rm = test::make_random_llama(s.spec);
    const LlamaModel model = rm.engine_model();
    const TokenLayout layout = s.prompt.layout();
    const int64_t n0 = s.prompt.total();
    const std::vector<float> prompt = test::random_prompt(rm, s.prompt, 5);
    const ReferenceRun ref = run_reference(rm, prompt, n0, layout, nullptr, kDecodeSteps);
    const EngineRun base =
        run_engine(model, prompt, n0, layout, nullptr, ref.tokens, rm, /*all_logits=*/true);
    const EngineRun no_layout =
        run_engine(model, prompt, n0, TokenLayout{}, nullptr, ref.tokens, rm, true);
    for (PruneSemantics sem : {PruneSemantics::Exact, PruneSemantics::Fast}) {
      for (bool explicit_masks : {false, true}) {
        PruningPlan plan;
        plan.name = "all-dense";
        plan.semantics = sem;
        plan.layers.assign(size_t(rm.cfg.n_layers), LayerPlan{});
        if (explicit_masks)
          for (LayerPlan& l : plan.layers) l.head_keep.assign(size_t(rm.cfg.n_heads), 1);
        ASSERT_TRUE(plan.is_dense());
        const EngineRun r = run_engine(model, prompt, n0, layout, &plan, ref.tokens, rm, true);
        ASSERT_EQ(r.logits.size(), base.logits.size());
        for (size_t st = 0; st < r.logits.size(); ++st) {
          ASSERT_EQ(r.logits[st].size(), base.logits[st].size());
          for (size_t i = 0; i < r.logits[st].size(); ++i)
            ASSERT_EQ(r.logits[st][i], base.logits[st][i])
                << s.name << " " << semantics_name(sem) << (explicit_masks ? " ones" : " empty")
                << " step " << st << " logit " << i;
        }
      }
    }
    for (size_t st = 0; st < base.logits.size(); ++st)
      for (size_t i = 0; i < base.logits[st].size(); ++i)
        ASSERT_EQ(no_layout.logits[st][i], base.logits[st][i]) << "layout changed dense logits";
  }
}

// FLOPs of a dense run, by the counter's convention: 2*M*N*K per projection, 4*head_dim per
// (query, key, head) of causal attention, visual/text split by the row (query) kind; the head
// over the rows that get logits.
TEST(YopoFlops, DenseCountMatchesFormula) {
  const ModelShape s = gqa_shape();
  const RandomLlama rm = test::make_random_llama(s.spec);
  const LlamaModel model = rm.engine_model();
  const LlamaConfig& c = rm.cfg;
  const TokenLayout layout = s.prompt.layout();
  const int64_t n0 = s.prompt.total();
  const std::vector<float> prompt = test::random_prompt(rm, s.prompt, 5);
  const std::vector<int32_t> tokens = {3, 14, 15, 92};
  const double d = double(c.dim), qd = double(c.n_heads * c.head_dim),
               kvd = double(c.n_kv_heads * c.head_dim), m = double(c.ffn_dim);
  const double proj_row = 2 * d * qd + 2 * 2 * d * kvd + 2 * qd * d;
  const double ffn_row = 3 * 2 * d * m;
  FlopParts vis, txt;  // per layer
  for (int64_t i = 0; i < n0 + int64_t(tokens.size()); ++i) {
    FlopParts& part = layout.is_visual(i) ? vis : txt;
    part.proj += proj_row;
    part.ffn += ffn_row;
    part.attn += 4.0 * double(c.head_dim) * double(c.n_heads) * double(i + 1);
  }
  const double head = 2 * d * double(c.vocab_size) * double(1 + tokens.size());

  PruningPlan dense_plan;
  dense_plan.layers.assign(size_t(c.n_layers), LayerPlan{});
  for (const PruningPlan* plan :
       {static_cast<const PruningPlan*>(nullptr), static_cast<const PruningPlan*>(&dense_plan)}) {
    const EngineRun r = run_engine(model, prompt, n0, layout, plan, tokens, rm);
    ASSERT_EQ(int64_t(r.flops.layers.size()), c.n_layers);
    for (int64_t l = 0; l < c.n_layers; ++l) {
      const LayerFlops& lf = r.flops.layers[size_t(l)];
      EXPECT_DOUBLE_EQ(lf.visual.proj, vis.proj) << "layer " << l;
      EXPECT_DOUBLE_EQ(lf.visual.attn, vis.attn) << "layer " << l;
      EXPECT_DOUBLE_EQ(lf.visual.ffn, vis.ffn) << "layer " << l;
      EXPECT_DOUBLE_EQ(lf.text.proj, txt.proj) << "layer " << l;
      EXPECT_DOUBLE_EQ(lf.text.attn, txt.attn) << "layer " << l;
      EXPECT_DOUBLE_EQ(lf.text.ffn, txt.ffn) << "layer " << l;
    }
    EXPECT_DOUBLE_EQ(r.flops.head, head);
    EXPECT_DOUBLE_EQ(r.flops.total(),
                     double(c.n_layers) * (vis.total() + txt.total()) + head + r.flops.other);
  }
}

// Pruning reduces the visual FLOPs the engine counts, in both semantics.
TEST(YopoFlops, PruningCountsLessVisualWork) {
  const ModelShape s = mha_shape();
  const RandomLlama rm = test::make_random_llama(s.spec);
  const LlamaModel model = rm.engine_model();
  const TokenLayout layout = s.prompt.layout();
  const int64_t n0 = s.prompt.total();
  const std::vector<float> prompt = test::random_prompt(rm, s.prompt, 5);
  const EngineRun dense = run_engine(model, prompt, n0, layout, nullptr, {}, rm);
  for (PruneSemantics sem : {PruneSemantics::Exact, PruneSemantics::Fast}) {
    for (Technique t : {Technique::AllCut, Technique::AllNoCut}) {
      const PruningPlan plan = make_plan(t, sem, rm.cfg);
      const EngineRun r = run_engine(model, prompt, n0, layout, &plan, {}, rm);
      EXPECT_GT(r.flops.visual_total().total(), 0) << technique_name(t);
      EXPECT_LT(r.flops.visual_total().total(), dense.flops.visual_total().total())
          << technique_name(t) << " " << semantics_name(sem);
    }
  }
}

// Malformed plans, each also made non-dense (by a visual FFN width in another layer) when
// `pruning` is set.
std::vector<std::pair<std::string, PruningPlan>> bad_plans(const LlamaConfig& c, bool pruning) {
  std::vector<std::pair<std::string, PruningPlan>> bad;
  auto base = [&] {
    PruningPlan p;
    p.name = "bad";
    p.layers.assign(size_t(c.n_layers), LayerPlan{});
    return p;
  };
  {
    PruningPlan p = base();
    p.layers[1].head_keep.assign(size_t(c.n_heads - 1), 1);
    bad.emplace_back("head mask too short", p);
    p.layers[1].head_keep.assign(size_t(c.n_heads + 1), 1);
    bad.emplace_back("head mask too long", p);
  }
  {
    PruningPlan p = base();
    p.layers.pop_back();
    bad.emplace_back("too few layers", p);
    p.layers.assign(size_t(c.n_layers + 1), LayerPlan{});
    bad.emplace_back("too many layers", p);
  }
  {
    PruningPlan p = base();
    p.layers[1].window_radius = -2;
    bad.emplace_back("negative window", p);
  }
  if (pruning) {
    for (auto& [what, p] : bad) p.layers[0].ffn_width = c.ffn_dim / 2;
    PruningPlan p = base();
    p.layers[2].ffn_width = c.ffn_dim + 1;
    bad.emplace_back("FFN width above the FFN size", p);
    p.layers[2].ffn_width = 0;
    bad.emplace_back("FFN width 0", p);
  }
  return bad;
}

void expect_plans_rejected(bool pruning) {
  const ModelShape s = mha_shape();
  const RandomLlama rm = test::make_random_llama(s.spec);
  const LlamaModel model = rm.engine_model();
  const LlamaConfig& c = rm.cfg;
  const TokenLayout layout = s.prompt.layout();
  const int64_t n0 = s.prompt.total();
  const std::vector<float> prompt = test::random_prompt(rm, s.prompt, 5);
  std::vector<int32_t> pos(static_cast<size_t>(n0));
  std::iota(pos.begin(), pos.end(), 0);
  for (const auto& [what, plan] : bad_plans(c, pruning)) {
    for (PruneSemantics sem : {PruneSemantics::Exact, PruneSemantics::Fast}) {
      PruningPlan p = plan;
      p.semantics = sem;
      EXPECT_THROW(p.validate(c.n_layers, c.n_heads, c.ffn_dim), Error) << what;
      ops::Context ctx(2);
      KvCache cache = model.make_cache(n0);
      EXPECT_THROW(model.forward(ctx, cache, {prompt.data(), n0, pos.data(), &layout, false, &p}),
                   Error)
          << what << " (" << semantics_name(sem) << ")";
    }
  }
}

// Plans that do not fit the model are rejected with yopo::Error, by validate() and by forward().
TEST(YopoPlanValidation, BadPlansThrow) {
  expect_plans_rejected(/*pruning=*/true);
}

// Also when the malformed plan prunes nothing (e.g. an all-ones head mask of the wrong length):
// a plan that does not fit the model is a caller error either way.
TEST(YopoPlanValidation, BadPlansThrowEvenWhenTheyPruneNothing) {
  expect_plans_rejected(/*pruning=*/false);
}

}  // namespace
}  // namespace yopo
