// Token-pruning baselines (FastV, PyramidDrop, SparseVLM) in the decoder against a naive
// reference written from the methods' descriptions (support/token_reference.h): prefill and 8
// decode steps, MHA and GQA tiny random models, the same tokens chosen at every stage.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <string>

#include "core/error.h"
#include "models/llama.h"
#include "prune/flops_model.h"
#include "prune/token_flops.h"
#include "prune/token_spec.h"
#include "support/random_llama.h"
#include "support/token_reference.h"

namespace yopo {
namespace {

using test::PromptShape;
using test::RandomLlama;
using test::RandomLlamaSpec;

constexpr double kTol = 1e-5;
constexpr int kDecodeSteps = 8;

struct Shape {
  std::string name;
  RandomLlamaSpec spec;
  PromptShape prompt;
};
// 6 layers so that three stages fit; MHA 6x6 image, GQA 7x7 image with 2 KV heads.
Shape mha() {
  return {"mha", RandomLlamaSpec{64, 4, 4, 16, 6, 96, 97, 31}, PromptShape{5, 6, 6, 7}};
}
Shape gqa() {
  return {"gqa", RandomLlamaSpec{80, 8, 2, 12, 6, 160, 97, 37}, PromptShape{3, 7, 7, 6}};
}

struct Case {
  Shape shape;
  std::string spec;
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.shape.name << " " << c.spec;
}

double rel_error(const float* e, const double* r, int64_t n) {
  double err = 0, mx = 1;
  for (int64_t i = 0; i < n; ++i) {
    err = std::max(err, std::fabs(double(e[i]) - r[i]));
    mx = std::max(mx, std::fabs(r[i]));
  }
  return err / mx;
}

class TokenPruningCase : public ::testing::TestWithParam<Case> {};

TEST_P(TokenPruningCase, PrefillAndDecodeMatchNaiveReference) {
  const Case& tc = GetParam();
  const RandomLlama rm = test::make_random_llama(tc.shape.spec);
  const LlamaModel model = rm.engine_model();
  const PromptShape& ps = tc.shape.prompt;
  const TokenLayout layout = ps.layout();
  const int64_t n0 = ps.total(), V = rm.cfg.vocab_size, d = rm.cfg.dim;
  PruningPlan plan;
  plan.name = tc.spec;
  plan.tokens = parse_token_spec(tc.spec, rm.cfg.n_layers);

  // Reference: the prompt, then one greedy token at a time (the whole sequence each time).
  std::vector<float> seq = test::random_prompt(rm, ps, 9);
  std::vector<test::TokenReferenceRun> ref;
  std::vector<int32_t> tokens;
  for (int s = 0; s <= kDecodeSteps; ++s) {
    const int64_t n = n0 + s;
    ref.push_back(test::token_reference(rm, seq.data(), n, n0, layout.images[0], plan.tokens));
    if (s == kDecodeSteps) break;
    const auto& lg = ref.back().logits;
    const int32_t tok = int32_t(std::max_element(lg.begin(), lg.end()) - lg.begin());
    tokens.push_back(tok);
    seq.insert(seq.end(), rm.embedding_row(tok), rm.embedding_row(tok) + d);
  }
  // The pruning must change the answer by far more than the tolerance.
  const test::TokenReferenceRun dense =
      test::token_reference(rm, seq.data(), n0, n0, layout.images[0], TokenPruning{});
  double diff = 0;
  for (int64_t i = 0; i < V; ++i)
    diff = std::max(diff, std::fabs(dense.logits[size_t(i)] - ref[0].logits[size_t(i)]));
  EXPECT_GT(diff, 100 * kTol) << "the method has no visible effect on the reference";

  // Engine: prefill, then the reference's tokens one by one through the KV cache.
  ops::Context ctx(2);
  KvCache cache = model.make_cache(n0 + kDecodeSteps);
  std::vector<int32_t> pos(size_t(n0 + kDecodeSteps));
  std::iota(pos.begin(), pos.end(), 0);
  TokenPruneTrace trace;
  FlopCounter flops;
  DecoderBatch b{seq.data(), n0, pos.data(), &layout, false, &plan, &flops, &trace};
  std::vector<std::vector<float>> logits{model.forward(ctx, cache, b)};
  for (int s = 0; s < kDecodeSteps; ++s) {
    DecoderBatch db{rm.embedding_row(tokens[size_t(s)]),
                    1,
                    &pos[size_t(n0 + s)],
                    nullptr,
                    false,
                    &plan,
                    &flops,
                    nullptr};
    logits.push_back(model.forward(ctx, cache, db));
  }

  // Same choices at every stage.
  EXPECT_EQ(trace.raters, ref[0].raters);
  ASSERT_EQ(trace.stages.size(), ref[0].kept.size());
  for (size_t s = 0; s < trace.stages.size(); ++s)
    EXPECT_EQ(trace.stages[s].kept, ref[0].kept[s]) << "stage " << s;
  for (int64_t l = 0; l < rm.cfg.n_layers; ++l)
    EXPECT_EQ(cache.rows(l),
              n0 + kDecodeSteps - (n0 - ps.prefix - ps.suffix) + ref[0].visual_rows[size_t(l)])
        << "KV rows of layer " << l;
  double worst = 0;
  for (size_t s = 0; s < logits.size(); ++s) {
    const double e = rel_error(logits[s].data(), ref[s].logits.data(), V);
    worst = std::max(worst, e);
    EXPECT_LE(e, kTol) << (s == 0 ? std::string("prefill") : "decode step " + std::to_string(s));
  }
  std::printf("[ measured ] %s %s: worst relative logit error %.3g\n", tc.shape.name.c_str(),
              tc.spec.c_str(), worst);
  EXPECT_GT(flops.other, 0) << "ranking work is counted";
}

std::vector<Case> cases() {
  std::vector<Case> v;
  for (const Shape& s : {mha(), gqa()}) {
    v.push_back({s, "fastv:K=2,R=0.5"});
    v.push_back({s, "fastv:K=1,R=0.75"});
    v.push_back({s, "pdrop:layers=1/3/5,lambda=0.5"});
    v.push_back({s, "pdrop:layers=2/4,ratios=0.6/0.3"});
    v.push_back({s, "sparsevlm:layers=1/3/4,keep=20/10/5"});
    v.push_back({s, "sparsevlm:layers=0/2,keep=30/12"});
  }
  return v;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string n = info.param.shape.name + "_" + info.param.spec;
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Methods, TokenPruningCase, ::testing::ValuesIn(cases()), case_name);

// A stage asking for more tokens than exist, or a layer outside the model, is an error.
TEST(TokenPruningErrors, ClearErrors) {
  const RandomLlama rm = test::make_random_llama(mha().spec);
  const LlamaModel model = rm.engine_model();
  const PromptShape ps = mha().prompt;
  const TokenLayout layout = ps.layout();
  const std::vector<float> seq = test::random_prompt(rm, ps, 3);
  std::vector<int32_t> pos(size_t(ps.total()));
  std::iota(pos.begin(), pos.end(), 0);
  auto run = [&](const std::string& spec) {
    PruningPlan plan;
    plan.tokens = parse_token_spec(spec, rm.cfg.n_layers);
    ops::Context ctx(1);
    KvCache cache = model.make_cache(ps.total());
    DecoderBatch b{seq.data(), ps.total(), pos.data(), &layout, false, &plan, nullptr, nullptr};
    model.forward(ctx, cache, b);
    return cache.rows(0);
  };
  auto message = [&](const std::string& spec) {
    try {
      run(spec);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("sparsevlm:layers=1/3,keep=40/10").find("only 36"), std::string::npos)
      << message("sparsevlm:layers=1/3,keep=40/10");
  EXPECT_NE(message("sparsevlm:layers=1/3,keep=20/30").find("only 21"), std::string::npos)
      << message("sparsevlm:layers=1/3,keep=20/30");
  EXPECT_NE(message("pdrop:layers=1/3,ratios=0.5/0.7").find("only 18"), std::string::npos)
      << message("pdrop:layers=1/3,ratios=0.5/0.7");
  EXPECT_THROW(parse_token_spec("fastv:K=6", 6), Error);
  EXPECT_THROW(parse_token_spec("fastv:K=0", 6), Error);
  EXPECT_THROW(parse_token_spec("fastv:R=1.5", 6), Error);
  EXPECT_THROW(parse_token_spec("pdrop:layers=2/9", 6), Error);
  EXPECT_THROW(parse_token_spec("pdrop:layers=3/2", 6), Error);
  EXPECT_THROW(parse_token_spec("sparsevlm:layers=2/5", 6), Error);  // after layer 5: none left
  EXPECT_THROW(parse_token_spec("sparsevlm:budget=100", 32), Error);
  EXPECT_THROW(parse_token_spec("fastv:Q=1", 32), Error);
  // The cache is untouched by a plan that fails its checks.
  EXPECT_THROW(run("sparsevlm:layers=1/3,keep=40/10"), Error);
}

TEST(TokenPruningSpec, Defaults) {
  const TokenPruning f = parse_token_spec("fastv", 32);
  ASSERT_EQ(f.stages.size(), 1u);
  EXPECT_EQ(f.stages[0].layer, 2);
  EXPECT_DOUBLE_EQ(f.stages[0].ratio, 0.5);
  const TokenPruning p = parse_token_spec("pdrop", 32);
  ASSERT_EQ(p.stages.size(), 3u);
  EXPECT_EQ(p.stages[2].layer, 24);
  EXPECT_DOUBLE_EQ(p.stages[2].ratio, 0.125);
  const TokenSchedule ps = token_schedule(p, 576, 32);
  EXPECT_EQ(ps.visual_rows[7], 576);
  EXPECT_EQ(ps.visual_rows[8], 288);
  EXPECT_EQ(ps.visual_rows[16], 144);
  EXPECT_EQ(ps.visual_rows[31], 72);
  const TokenPruning s = parse_token_spec("sparsevlm:budget=192", 32);
  const TokenSchedule ss = token_schedule(s, 576, 32);
  // After layer 2: 300 kept, 276 deleted, int(82.8)+1 = 83 recycled into 83/10+1 = 9 clusters.
  EXPECT_EQ(ss.visual_rows[2], 576);
  EXPECT_EQ(ss.visual_rows[3], 309);
  EXPECT_EQ(ss.recycled[0], 83);
  // After layer 6: 200 kept of 309, 109 deleted, 33 recycled, 4 clusters.
  EXPECT_EQ(ss.visual_rows[7], 204);
  // After layer 15: 110 kept of 204, 94 deleted, 29 recycled, 3 clusters.
  EXPECT_EQ(ss.visual_rows[16], 113);
  EXPECT_EQ(token_schedule(parse_token_spec("fastv:K=2,R=0.5", 32), 577, 32).visual_rows[2],
            288);  // round(288.5) = 288 (half to even)
  EXPECT_EQ(round_half_even(2.5), 2);
  EXPECT_EQ(round_half_even(3.5), 4);
  EXPECT_EQ(round_half_even(3.4), 3);
}

}  // namespace
}  // namespace yopo

namespace yopo {
namespace {

// Executed FLOPs (prefill + decode steps) agree with the analytical count within 1%.
TEST(TokenPruningFlops, ExecutedMatchesAnalytical) {
  for (const Shape& sh : {mha(), gqa()})
    for (const std::string spec : {"fastv:K=2,R=0.5", "pdrop:layers=1/3/5,lambda=0.5",
                                   "sparsevlm:layers=1/3/4,keep=20/10/5"}) {
      const RandomLlama rm = test::make_random_llama(sh.spec);
      const LlamaModel model = rm.engine_model();
      const PromptShape& ps = sh.prompt;
      const TokenLayout layout = ps.layout();
      const int64_t n0 = ps.total(), steps = 3;
      PruningPlan plan;
      plan.tokens = parse_token_spec(spec, rm.cfg.n_layers);
      std::vector<float> seq = test::random_prompt(rm, ps, 4);
      ops::Context ctx(2);
      KvCache cache = model.make_cache(n0 + steps);
      std::vector<int32_t> pos(size_t(n0 + steps));
      std::iota(pos.begin(), pos.end(), 0);
      FlopCounter f;
      TokenPruneTrace trace;
      DecoderBatch b{seq.data(), n0, pos.data(), &layout, false, &plan, &f, &trace};
      model.forward(ctx, cache, b);
      for (int64_t s = 0; s < steps; ++s) {
        DecoderBatch db{rm.embedding_row(int32_t(s + 1)),
                        1,
                        &pos[size_t(n0 + s)],
                        nullptr,
                        false,
                        &plan,
                        &f,
                        nullptr};
        model.forward(ctx, cache, db);
      }
      // Layers: decoded tokens count as text rows after the image; ranking: the prefill only.
      TokenLayoutSummary t{ps.prefix, ps.grid_rows, ps.grid_cols, ps.suffix + steps};
      const TokenLayoutSummary t0{ps.prefix, ps.grid_rows, ps.grid_cols, ps.suffix};
      std::vector<int64_t> raters;
      for (int64_t r : trace.raters) raters.push_back(r - ps.prefix - ps.grid_rows * ps.grid_cols);
      const std::vector<LayerFlops> pred = predicted_executed_flops(rm.cfg, plan, t);
      double p_total = predicted_token_ranking_flops(rm.cfg, plan.tokens, t0, raters),
             e_total = f.other;
      for (size_t l = 0; l < pred.size(); ++l) {
        p_total += pred[l].visual.total() + pred[l].text.total();
        e_total += f.layers[l].visual.total() + f.layers[l].text.total();
        EXPECT_NEAR(f.layers[l].visual.total(), pred[l].visual.total(),
                    0.01 * pred[l].visual.total() + 1)
            << sh.name << " " << spec << " layer " << l;
      }
      EXPECT_NEAR(f.other, predicted_token_ranking_flops(rm.cfg, plan.tokens, t0, raters),
                  0.01 * f.other)
          << sh.name << " " << spec;
      EXPECT_NEAR(e_total, p_total, 0.01 * p_total) << sh.name << " " << spec;
    }
}

}  // namespace
}  // namespace yopo
