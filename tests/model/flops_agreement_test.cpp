// The FLOPs the decoder counts while it runs (models/flop_counter.h) must agree with the
// analytical prediction of prune/flops_model.h within 1%, for the presets and for each technique
// alone, in both semantics.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "ops/context.h"
#include "prune/flops_model.h"
#include "prune/plan_spec.h"
#include "support/random_llama.h"

namespace yopo {
namespace {

using test::RandomLlama;
using test::RandomLlamaSpec;
using test::TestRng;
using test::make_random_llama;

struct FlopsCase {
  std::string spec;
  PruneSemantics sem;
};

class FlopsAgreement : public ::testing::TestWithParam<FlopsCase> {};

TEST_P(FlopsAgreement, ExecutedMatchesPrediction) {
  RandomLlamaSpec spec;
  spec.n_layers = 4;
  spec.dim = 64;
  spec.n_heads = 8;
  spec.n_kv_heads = 8;
  spec.head_dim = 8;
  spec.ffn_dim = 128;
  const RandomLlama rl = make_random_llama(spec);
  const LlamaModel model = rl.engine_model();
  const PruningPlan plan = resolve_plan_spec(GetParam().spec, model.config(), GetParam().sem);

  // 5 text rows, an 8x8 image, 6 text rows.
  const int64_t before = 5, g = 8, after = 6, n = before + g * g + after;
  TokenLayout layout;
  layout.images.push_back({before, g, g});
  std::vector<float> emb(size_t(n * spec.dim));
  TestRng rng(7);
  for (float& v : emb) v = float(rng.normal());
  std::vector<int32_t> pos(static_cast<size_t>(n));
  std::iota(pos.begin(), pos.end(), 0);

  ops::Context ctx(2);
  KvCache cache = model.make_cache(n);
  FlopCounter counted;
  model.forward(ctx, cache, {emb.data(), n, pos.data(), &layout, false, &plan, &counted});

  const std::vector<LayerFlops> predicted =
      predicted_executed_flops(model.config(), plan, {before, g, g, after});
  ASSERT_EQ(predicted.size(), size_t(spec.n_layers));
  double pv = 0, pt = 0;
  for (const LayerFlops& l : predicted) {
    pv += l.visual.total();
    pt += l.text.total();
  }
  const double cv = counted.visual_total().total(), ct = counted.text_total().total();
  EXPECT_NEAR(cv, pv, 0.01 * pv) << GetParam().spec;
  EXPECT_NEAR(ct, pt, 0.01 * pt) << GetParam().spec;
  for (size_t l = 0; l < predicted.size(); ++l) {
    const LayerFlops& c = counted.layer(int64_t(l));
    EXPECT_NEAR(c.visual.proj, predicted[l].visual.proj, 0.01 * predicted[l].visual.proj + 1)
        << "layer " << l;
    EXPECT_NEAR(c.visual.attn, predicted[l].visual.attn, 0.01 * predicted[l].visual.attn + 1)
        << "layer " << l;
    EXPECT_NEAR(c.visual.ffn, predicted[l].visual.ffn, 0.01 * predicted[l].visual.ffn + 1)
        << "layer " << l;
  }
  EXPECT_NEAR(counted.head, predicted_head_flops(model.config()), 1.0);
}

INSTANTIATE_TEST_SUITE_P(
    Plans, FlopsAgreement,
    ::testing::Values(FlopsCase{"dense", PruneSemantics::Exact},
                      FlopsCase{"yopo-25", PruneSemantics::Exact},
                      FlopsCase{"yopo-25", PruneSemantics::Fast},
                      FlopsCase{"yopo-12", PruneSemantics::Exact},
                      FlopsCase{"yopo-12", PruneSemantics::Fast},
                      FlopsCase{"window:r=2", PruneSemantics::Exact},
                      FlopsCase{"ffn:ratio=2", PruneSemantics::Fast},
                      FlopsCase{"heads:keep=3", PruneSemantics::Exact},
                      FlopsCase{"heads:keep=3", PruneSemantics::Fast},
                      FlopsCase{"layercut:keep=2", PruneSemantics::Exact},
                      FlopsCase{"layercut:keep=2", PruneSemantics::Fast}),
    [](const auto& info) {
      std::string s = info.param.spec + (info.param.sem == PruneSemantics::Fast ? "_fast" : "_exact");
      for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return s;
    });

}  // namespace
}  // namespace yopo
