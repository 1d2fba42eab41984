// Plan specs: every form of the --prune argument, and its errors.
#include "prune/plan_spec.h"

#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/llama_config.h"
#include "prune/head_mask.h"
#include "prune/plan_json.h"
#include "prune/presets.h"
#include "support/test_paths.h"

namespace yopo {
namespace {

// 6 layers, 4 heads (2 KV heads), FFN 10.
LlamaConfig small() {
  LlamaConfig c;
  c.vocab_size = 10;
  c.dim = 16;
  c.n_layers = 6;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 4;
  c.ffn_dim = 10;
  return c;
}

const HeadMask kMask = {{1, 1, 1, 1}, {1, 1, 1, 1}, {1, 0, 0, 0},
                        {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};

PruningPlan spec(const std::string& s, const std::string& mask = "",
                 PruneSemantics sem = PruneSemantics::Exact) {
  return resolve_plan_spec(s, small(), sem, mask);
}

TEST(PrunePlanSpec, DenseAndPresets) {
  const PruningPlan d = spec("dense", "", PruneSemantics::Fast);
  EXPECT_EQ(d.name, "dense");
  EXPECT_TRUE(d.layers.empty());
  EXPECT_EQ(d.semantics, PruneSemantics::Fast);
  const PruningPlan p = spec("yopo-25");
  EXPECT_TRUE(same_plan(p, make_preset("yopo-25", small(), PruneSemantics::Exact)));
}

TEST(PrunePlanSpec, SingleTechniques) {
  PruningPlan p = spec("window:r=1");
  EXPECT_EQ(p.name, "window:r=1");
  ASSERT_EQ(p.layers.size(), 6u);
  for (const LayerPlan& lp : p.layers) {
    EXPECT_EQ(lp.window_radius, 1);
    EXPECT_EQ(lp.ffn_width, -1);
    EXPECT_TRUE(lp.head_keep.empty());
    EXPECT_TRUE(lp.visual_active);
  }
  EXPECT_EQ(spec("window:w=7").layers[3].window_radius, 3);
  EXPECT_EQ(spec("window").layers[0].window_radius, 2);
  EXPECT_EQ(spec("ffn:ratio=3").layers[2].ffn_width, 3);  // floor(10 / 3)
  EXPECT_EQ(spec("ffn:ratio=2.5").layers[2].ffn_width, 4);
  EXPECT_EQ(spec("ffn:width=7").layers[5].ffn_width, 7);
  EXPECT_EQ(spec("ffn").layers[0].ffn_width, 5);

  p = spec("heads:keep=1");
  EXPECT_TRUE(p.layers[0].head_keep.empty());
  EXPECT_TRUE(p.layers[1].head_keep.empty());
  for (size_t l = 2; l < 6; ++l)
    EXPECT_EQ(p.layers[l].head_keep, (std::vector<uint8_t>{1, 0, 0, 0}));
  p = spec("heads:keep=3,from=0");
  EXPECT_EQ(p.layers[0].head_keep, (std::vector<uint8_t>{1, 1, 1, 0}));

  p = spec("layercut:keep=2");
  for (size_t l = 0; l < 6; ++l) EXPECT_EQ(p.layers[l].visual_active, l < 2);
}

TEST(PrunePlanSpec, Combinations) {
  const PruningPlan p = spec("window:r=2+ffn:ratio=2+layercut:keep=4");
  EXPECT_EQ(p.name, "window:r=2+ffn:ratio=2+layercut:keep=4");
  for (size_t l = 0; l < 6; ++l) {
    EXPECT_EQ(p.layers[l].window_radius, 2);
    EXPECT_EQ(p.layers[l].ffn_width, 5);
    EXPECT_EQ(p.layers[l].visual_active, l < 4);
  }
  // A base first, then techniques that modify it.
  const PruningPlan q = spec("yopo-25+ffn:ratio=5");
  const PruningPlan base = make_preset("yopo-25", small(), PruneSemantics::Exact);
  EXPECT_EQ(q.layers[0].ffn_width, 2);
  EXPECT_EQ(q.layers[0].window_radius, base.layers[0].window_radius);
  EXPECT_EQ(q.layers[5].visual_active, base.layers[5].visual_active);
}

TEST(PrunePlanSpec, HeadMasks) {
  const std::string dir = test::temp_dir();
  write_head_mask_npy(dir + "/m.npy", kMask);
  PruningPlan p = spec("heads:mask=" + dir + "/m.npy");
  EXPECT_TRUE(p.layers[1].head_keep.empty());
  EXPECT_EQ(p.layers[3].head_keep, kMask[3]);
  p = spec("heads", dir + "/m.npy");
  EXPECT_EQ(p.layers[5].head_keep, kMask[5]);
  // A preset takes its heads from the given mask.
  p = spec("yopo-12", dir + "/m.npy");
  EXPECT_EQ(p.layers[2].head_keep, kMask[2]);
}

TEST(PrunePlanSpec, PlanFiles) {
  const std::string dir = test::temp_dir();
  std::ofstream(dir + "/plan.json")
      << R"({"name": "mine", "semantics": "fast", "defaults": {"window_radius": 1}, "layer_cut": 5})";
  // The caller's semantics wins over the file's.
  const PruningPlan p = spec(dir + "/plan.json");
  EXPECT_EQ(p.name, "mine");
  EXPECT_EQ(p.semantics, PruneSemantics::Exact);
  EXPECT_EQ(p.layers[0].window_radius, 1);
  EXPECT_FALSE(p.layers[5].visual_active);
  EXPECT_EQ(spec(dir + "/plan.json+ffn:width=2").layers[0].ffn_width, 2);
}

TEST(PrunePlanSpec, YopoConfigs) {
  const std::string dir = test::temp_dir();
  std::ofstream(dir + "/config.json") << R"({"architectures": ["LlavaLlamaForCausalLM"],
      "attncut_w": 3, "layercut_num": 4, "mlpcut_ratio": 2, "sprompt_len": 35})";
  for (const std::string& s : {dir + "/config.json", dir}) {
    const PruningPlan p = spec(s);
    EXPECT_EQ(p.name, "yopo-config");
    EXPECT_EQ(p.layers[0].window_radius, 1);
    EXPECT_EQ(p.layers[0].ffn_width, 5);
    EXPECT_TRUE(p.layers[3].visual_active);
    EXPECT_FALSE(p.layers[4].visual_active);
  }
  write_head_mask_json(dir + "/mask.json", kMask);
  EXPECT_EQ(spec(dir + "/config.json", dir + "/mask.json").layers[2].head_keep, kMask[2]);
}

TEST(PrunePlanSpec, YopoConfigFindsTheReferenceMaskName) {
  YOPO_REQUIRE_ASSET(mask, "yopo-headmasks/headmask_7b_16.json");
  LlamaConfig c = small();
  c.n_layers = 32;
  c.n_heads = c.n_kv_heads = 32;
  c.dim = 4096;
  c.head_dim = 128;
  c.ffn_dim = 11008;
  const std::string dir = test::temp_dir();
  std::ofstream(dir + "/config.json")
      << R"({"attncut_w": 5, "layercut_num": 16, "headcut_num": 16, "mlpcut_ratio": 2})";
  try {
    resolve_plan_spec(dir, c, PruneSemantics::Exact);
    ADD_FAILURE() << "no error without a mask";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("headmask_7b_16.npy"), std::string::npos) << e.what();
  }
  write_head_mask_json(dir + "/headmask_7b_16.json", read_head_mask(mask));
  const PruningPlan p = resolve_plan_spec(dir, c, PruneSemantics::Exact);
  EXPECT_EQ(p.layers[2].head_keep, read_head_mask(mask)[2]);
  EXPECT_FALSE(p.layers[16].visual_active);
}

void expect_error(const std::string& s, const std::string& needle, const std::string& mask = "") {
  try {
    spec(s, mask);
    ADD_FAILURE() << "no error for '" << s << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(PrunePlanSpec, Errors) {
  expect_error("", "empty plan spec");
  expect_error("sparse", "unknown plan spec 'sparse'");
  expect_error("sparse", "window:r=R");
  expect_error("window:x=1", "unknown argument 'x' (allowed: r, w)");
  expect_error("window:r=1,w=3", "not both");
  expect_error("window:w=4", "odd");
  expect_error("window:r=-1", "outside");
  expect_error("window:r", "not key=value");
  expect_error("window:r=2,r=3", "given twice");
  expect_error("ffn:ratio=0.5", ">= 1");
  expect_error("ffn:width=11", "outside 1..10");
  expect_error("heads:keep=5", "outside 0..4");
  expect_error("heads:keep=1,mask=x", "not both");
  expect_error("heads", "--head-mask");
  expect_error("layercut", "layercut:keep=L");
  expect_error("layercut:keep=7", "outside 0..6");
  expect_error("window:r=1+yopo-25", "can only come first");
  expect_error("window:r=1++ffn", "empty part");
  expect_error("no/such/plan.json", "does not exist");
  expect_error("dense", "does not use one", "/nonexistent/mask.json");
  const std::string dir = test::temp_dir();
  std::ofstream(dir + "/config.json") << R"({"architectures": ["LlamaForCausalLM"]})";
  expect_error(dir + "/config.json", "without YOPO knobs");
  expect_error(dir, "without YOPO knobs");
  std::ofstream(dir + "/bad.json") << R"({"layers": [{"heads": [9]}, {}, {}, {}, {}, {}]})";
  expect_error(dir + "/bad.json", "layer 0");
  write_head_mask_json(dir + "/m.json", {{1, 0}, {0, 1}});
  expect_error("heads:mask=" + dir + "/m.json", "[2 layers, 2 heads]");
}

// UnusedHeadMask::Ignore: a mask that the spec does not read is let through (a sweep, a server),
// one that it reads is still read and checked.
TEST(PrunePlanSpec, UnusedMaskCanBeIgnored) {
  const std::string dir = test::temp_dir();
  write_head_mask_json(dir + "/m.json", kMask);
  const auto ignore = [&](const std::string& s, const std::string& mask) {
    return resolve_plan_spec(s, small(), PruneSemantics::Exact, mask, UnusedHeadMask::Ignore);
  };
  EXPECT_TRUE(same_plan(ignore("window:r=2", dir + "/m.json"), spec("window:r=2")));
  EXPECT_TRUE(ignore("dense", dir + "/m.json").is_dense());
  EXPECT_TRUE(ignore("fastv:K=2,R=0.5", dir + "/m.json").tokens.active());
  EXPECT_EQ(ignore("yopo-25", dir + "/m.json").layers[2].head_keep, kMask[2]);
  EXPECT_THROW(ignore("yopo-25", dir + "/absent.json"), Error);
  write_head_mask_json(dir + "/small.json", {{1, 0}, {0, 1}});
  EXPECT_THROW(ignore("heads", dir + "/small.json"), Error);
  EXPECT_THROW(spec("window:r=2", dir + "/m.json"), Error);  // the default: an error
}

}  // namespace
}  // namespace yopo
