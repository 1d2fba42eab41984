// Presets: their knobs, their plans, and their budgets recomputed here from the paper's
// formula (yopo-method.md) with the knob values, independently of the library's FLOPs model.
#include "prune/presets.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "models/llama_config.h"
#include "support/test_paths.h"

namespace yopo {
namespace {

// The paper's formula for a preset plan: layers 0..full-1 with every head, layers up to L_keep
// with K heads, window radius 2 on a 24x24 grid after 35 text tokens (k = 35 + 22.5625), FFN
// width m/2; the rest cost 0. Returns the share of the dense visual FLOPs.
double paper_share(int64_t L, double d, double m, int64_t H, int64_t keep, int64_t K,
                   int64_t full) {
  const double n = 576, k = 35 + 22.5625;
  const double dense = L * (8 * n * d * d + 4 * n * n * d + 6 * n * d * m);
  double total = 0;
  for (int64_t l = 0; l < keep; ++l) {
    const double h = l < full ? 1.0 : double(K) / double(H);
    total += 8 * n * d * d * h + 4 * n * k * d * h + 6 * n * d * std::floor(m / 2);
  }
  return total / dense;
}

struct Expected {
  ModelShape shape;
  const char* preset;
  int64_t keep, heads;
  double target;
};

TEST(PrunePresets, KnobsAndBudgetsForLlava) {
  const Expected cases[] = {{llava15_7b(), "yopo-25", 16, 15, 0.25},
                            {llava15_7b(), "yopo-12", 8, 9, 0.12},
                            {llava15_13b(), "yopo-25", 20, 19, 0.25},
                            {llava15_13b(), "yopo-12", 10, 13, 0.12}};
  for (const Expected& e : cases) {
    const PresetKnobs k = preset_knobs(e.preset, e.shape);
    EXPECT_EQ(k.layer_keep, e.keep) << e.preset << " " << e.shape.name;
    EXPECT_EQ(k.heads_keep, e.heads) << e.preset << " " << e.shape.name;
    EXPECT_EQ(k.full_layers, 2);
    EXPECT_EQ(k.window, 5);
    EXPECT_EQ(k.ffn_ratio, 2);
    const double share = paper_share(e.shape.n_layers, double(e.shape.d), double(e.shape.m),
                                     e.shape.n_heads, e.keep, e.heads, 2);
    EXPECT_NEAR(share / e.target, 1.0, 0.01) << e.preset << " " << e.shape.name;
    EXPECT_NEAR(k.fraction, share, 1e-12);
    const PruningPlan plan = make_preset(e.preset, e.shape, PruneSemantics::Exact);
    EXPECT_NEAR(paper_visual_flops(e.shape, plan).fraction, share, 1e-12);
  }
}

TEST(PrunePresets, PlanLayers) {
  const PruningPlan p = make_preset("yopo-25", llava15_7b(), PruneSemantics::Fast);
  EXPECT_EQ(p.name, "yopo-25");
  EXPECT_EQ(p.semantics, PruneSemantics::Fast);
  ASSERT_EQ(p.layers.size(), 32u);
  for (int64_t l = 0; l < 32; ++l) {
    const LayerPlan& lp = p.layers[size_t(l)];
    EXPECT_EQ(lp.window_radius, 2);
    EXPECT_EQ(lp.ffn_width, 5504);
    EXPECT_EQ(lp.visual_active, l < 16);
    if (l >= 16) continue;
    for (int64_t h = 0; h < 32; ++h)
      EXPECT_EQ(lp.head_active(h), l < 2 || h < 15) << "layer " << l << " head " << h;
  }
}

TEST(PrunePresets, WithTheReleasedMask) {
  YOPO_REQUIRE_ASSET(path, "yopo-headmasks/headmask_7b_16.json");
  const HeadMask mask = read_head_mask(path);
  // With the mask fixed, L_keep is the nearest whole layer count: 16 layers give 25.09% and 8
  // give 11.73% (15 layers: 23.34%, 9: 13.33%; see prune_flops_model_test for the formula).
  const PresetKnobs k25 = preset_knobs("yopo-25", llava15_7b(), &mask);
  EXPECT_EQ(k25.layer_keep, 16);
  EXPECT_EQ(k25.heads_keep, -1);
  EXPECT_NEAR(k25.fraction, 0.25093, 0.00001);
  const PresetKnobs k12 = preset_knobs("yopo-12", llava15_7b(), &mask);
  EXPECT_EQ(k12.layer_keep, 8);
  const PruningPlan p = make_preset("yopo-12", llava15_7b(), PruneSemantics::Exact, &mask);
  EXPECT_EQ(p.layers[5].head_keep, mask[5]);
  EXPECT_FALSE(p.layers[8].visual_active);
}

TEST(PrunePresets, ScaleToOtherShapes) {
  // 4 layers, 4 heads: yopo-25 keeps round(4*16/32) = 2 layers, round(4*15/32) = round(1.875)
  // = 2 heads, all heads in round(4*2/32) = round(0.25) = 0 layers; yopo-12 keeps
  // round(4*8/32) = 1 layer, round(4*9/32) = round(1.125) = 1 head.
  const ModelShape tiny{4, 64, 128, 4, "tiny"};
  const PresetKnobs k25 = preset_knobs("yopo-25", tiny);
  EXPECT_EQ(k25.layer_keep, 2);
  EXPECT_EQ(k25.heads_keep, 2);
  EXPECT_EQ(k25.full_layers, 0);
  const PresetKnobs k12 = preset_knobs("yopo-12", tiny);
  EXPECT_EQ(k12.layer_keep, 1);
  EXPECT_EQ(k12.heads_keep, 1);
  const PruningPlan p = make_preset("yopo-25", tiny, PruneSemantics::Exact);
  EXPECT_EQ(p.layers[0].head_keep, (std::vector<uint8_t>{1, 1, 0, 0}));
  EXPECT_EQ(p.layers[0].ffn_width, 64);
  EXPECT_FALSE(p.layers[2].visual_active);
  // The LlamaConfig overload uses the same shape.
  LlamaConfig c;
  c.vocab_size = 10;
  c.dim = 64;
  c.n_layers = 4;
  c.n_heads = c.n_kv_heads = 4;
  c.head_dim = 16;
  c.ffn_dim = 128;
  EXPECT_EQ(make_preset("yopo-25", c, PruneSemantics::Exact).layers[0].head_keep,
            p.layers[0].head_keep);
}

TEST(PrunePresets, Names) {
  EXPECT_EQ(preset_names(), (std::vector<std::string>{"yopo-25", "yopo-12"}));
  EXPECT_TRUE(is_preset_name("yopo-12"));
  EXPECT_FALSE(is_preset_name("yopo-50"));
  EXPECT_THROW(preset_knobs("yopo-50", llava15_7b()), Error);
  const HeadMask wrong(2, std::vector<uint8_t>(2, 1));
  EXPECT_THROW(preset_knobs("yopo-25", llava15_7b(), &wrong), Error);
  EXPECT_EQ(preset_table(llava15_13b()).size(), 2u);
}

}  // namespace
}  // namespace yopo
