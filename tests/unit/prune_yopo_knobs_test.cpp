// Plans from YOPO checkpoint knobs, checked layer by layer against yopo-method.md's rules
// worked by hand for the given knob values.
#include "prune/yopo_knobs.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/llama_config.h"
#include "prune/head_mask.h"
#include "support/test_paths.h"

namespace yopo {
namespace {

using nlohmann::json;

LlamaConfig llama7b() {
  LlamaConfig c;
  c.vocab_size = 32000;
  c.dim = 4096;
  c.n_layers = 32;
  c.n_heads = c.n_kv_heads = 32;
  c.head_dim = 128;
  c.ffn_dim = 11008;
  return c;
}

LlamaConfig tiny() {
  LlamaConfig c = llama7b();
  c.dim = 16;
  c.n_layers = 4;
  c.n_heads = c.n_kv_heads = 2;
  c.head_dim = 8;
  c.ffn_dim = 10;
  return c;
}

const json kPaperConfig = json::parse(R"({"architectures": ["LlavaLlamaForCausalLM"],
  "attncut_w": 5, "layercut_num": 8, "headcut_num": 16, "mlpcut_ratio": 2, "sprompt_len": 35})");

TEST(PruneYopoKnobs, PaperKnobsWithReleasedMask) {
  YOPO_REQUIRE_ASSET(path, "yopo-headmasks/headmask_7b_16.json");
  const HeadMask mask = read_head_mask(path);
  const PruningPlan p = plan_from_yopo_config(kPaperConfig, mask, llama7b(), PruneSemantics::Fast);
  EXPECT_EQ(p.semantics, PruneSemantics::Fast);
  ASSERT_EQ(p.layers.size(), 32u);
  for (size_t l = 0; l < 32; ++l) {
    const LayerPlan& lp = p.layers[l];
    EXPECT_EQ(lp.window_radius, 2) << l;  // (5 - 1) / 2
    EXPECT_EQ(lp.ffn_width, 5504) << l;   // floor(11008 / 2)
    EXPECT_EQ(lp.visual_active, l < 8) << l;
    if (l < 2) {
      EXPECT_TRUE(lp.head_keep.empty()) << l;  // the mask keeps all 32 heads there
    } else if (l < 8) {
      EXPECT_EQ(lp.head_keep, mask[l]) << l;
    }
  }
  // Layer 2 of headmask_7b_16 keeps 9 heads (its kept_per_layer[2]).
  int kept = 0;
  for (int64_t h = 0; h < 32; ++h) kept += p.layers[2].head_active(h) ? 1 : 0;
  EXPECT_EQ(kept, 9);
}

TEST(PruneYopoKnobs, HandMaskOnTinyModel) {
  const json cfg = {{"attncut_w", 3}, {"layercut_num", 3}, {"mlpcut_ratio", 3}};
  const HeadMask mask = {{1, 1}, {0, 1}, {1, 0}, {0, 0}};
  const PruningPlan p = plan_from_yopo_config(cfg, mask, tiny(), PruneSemantics::Exact);
  EXPECT_EQ(p.name, "yopo-config");
  EXPECT_TRUE(p.layers[0].head_keep.empty());
  EXPECT_EQ(p.layers[1].head_keep, (std::vector<uint8_t>{0, 1}));
  EXPECT_EQ(p.layers[2].head_keep, (std::vector<uint8_t>{1, 0}));
  EXPECT_FALSE(p.layers[3].visual_active);
  for (const LayerPlan& lp : p.layers) {
    EXPECT_EQ(lp.window_radius, 1);  // w = 3
    EXPECT_EQ(lp.ffn_width, 3);      // floor(10 / 3)
  }
}

TEST(PruneYopoKnobs, AbsentKnobsLeaveTechniquesOff) {
  const PruningPlan p =
      plan_from_yopo_config(json{{"layercut_num", 2}}, {}, tiny(), PruneSemantics::Exact);
  EXPECT_TRUE(p.layers[0].is_dense());
  EXPECT_TRUE(p.layers[1].is_dense());
  EXPECT_FALSE(p.layers[2].visual_active);
  EXPECT_EQ(p.layers[2].ffn_width, -1);
  // No mask: every head kept; ratio 1 keeps the whole FFN.
  const PruningPlan q = plan_from_yopo_config(json{{"mlpcut_ratio", 1.0}, {"headcut_num", 1}}, {},
                                              tiny(), PruneSemantics::Exact);
  EXPECT_TRUE(q.is_dense());
}

TEST(PruneYopoKnobs, KnobsInTextConfig) {
  const json cfg = {{"text_config", {{"attncut_w", 5}}}};
  EXPECT_TRUE(has_yopo_knobs(cfg));
  const PruningPlan p = plan_from_yopo_config(cfg, {}, tiny(), PruneSemantics::Exact);
  EXPECT_EQ(p.layers[3].window_radius, 2);
  EXPECT_FALSE(has_yopo_knobs(json{{"hidden_size", 4}}));
}

TEST(PruneYopoKnobs, ReadsKnobValues) {
  const YopoKnobs k = read_yopo_knobs(kPaperConfig);
  EXPECT_EQ(k.attncut_w, 5);
  EXPECT_EQ(k.layercut_num, 8);
  EXPECT_EQ(k.headcut_num, 16);
  EXPECT_EQ(k.mlpcut_ratio, 2.0);
  EXPECT_EQ(k.sprompt_len, 35);
  EXPECT_EQ(read_yopo_knobs(json{{"layercut_num", 16.0}}).layercut_num, 16);
}

TEST(PruneYopoKnobs, ReferenceMaskName) {
  EXPECT_EQ(reference_head_mask_name(llama7b(), 16), "headmask_7b_16");
  LlamaConfig c13 = llama7b();
  c13.n_layers = 40;
  EXPECT_EQ(reference_head_mask_name(c13, 10), "headmask_13b_10");
  EXPECT_EQ(reference_head_mask_name(tiny(), 1), "");
}

void expect_error(const json& cfg, const HeadMask& mask, const char* needle) {
  try {
    plan_from_yopo_config(cfg, mask, tiny(), PruneSemantics::Exact);
    ADD_FAILURE() << "no error for " << cfg.dump();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(PruneYopoKnobs, Errors) {
  expect_error(json{{"attncut_w", 4}}, {}, "odd");
  expect_error(json{{"attncut_w", 0}}, {}, "'attncut_w'");
  expect_error(json{{"attncut_w", "5"}}, {}, "'attncut_w' must be an integer");
  expect_error(json{{"layercut_num", 5}}, {}, "only 4 layers");
  expect_error(json{{"layercut_num", -1}}, {}, "'layercut_num'");
  expect_error(json{{"layercut_num", 2.5}}, {}, "'layercut_num' must be an integer");
  expect_error(json{{"mlpcut_ratio", 0.5}}, {}, "'mlpcut_ratio'");
  expect_error(json{{"sprompt_len", -3}}, {}, "'sprompt_len'");
  expect_error(json{{"hidden_size", 4}}, {}, "none of the YOPO knobs");
  expect_error(json{{"attncut_w", 5}}, {{1, 1}, {1, 1}}, "[2 layers, 2 heads]");
}

}  // namespace
}  // namespace yopo
