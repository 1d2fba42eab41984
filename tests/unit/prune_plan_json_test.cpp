// The JSON form of pruning plans: both forms parsed field by field against hand-written
// expectations, round trips, and every validation error.
#include "prune/plan_json.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "prune/head_mask.h"
#include "support/test_paths.h"

namespace yopo {
namespace {

using nlohmann::json;

const PlanShape kShape{4, 4, 16};  // 4 layers, 4 heads, FFN 16

std::vector<uint8_t> keep(std::initializer_list<int> v) {
  std::vector<uint8_t> out;
  for (int x : v) out.push_back(uint8_t(x));
  return out;
}

TEST(PrunePlanJson, FullForm) {
  const json j = json::parse(R"({
    "name": "hand", "semantics": "fast",
    "layers": [
      {"visual": true, "heads": "all", "ffn_width": null, "window_radius": null},
      {"heads": [0, 2], "ffn_width": 8, "window_radius": 1},
      {"heads": "none", "window": 5},
      {"visual": false, "ffn_ratio": 3}
    ]})");
  const PruningPlan p = plan_from_json(j, kShape);
  EXPECT_EQ(p.name, "hand");
  EXPECT_EQ(p.semantics, PruneSemantics::Fast);
  ASSERT_EQ(p.layers.size(), 4u);
  EXPECT_TRUE(p.layers[0].is_dense());
  EXPECT_EQ(p.layers[1].head_keep, keep({1, 0, 1, 0}));
  EXPECT_EQ(p.layers[1].ffn_width, 8);
  EXPECT_EQ(p.layers[1].window_radius, 1);
  EXPECT_EQ(p.layers[2].head_keep, keep({0, 0, 0, 0}));
  EXPECT_EQ(p.layers[2].window_radius, 2);  // w = 5 -> radius (5-1)/2
  EXPECT_FALSE(p.layers[3].visual_active);
  EXPECT_EQ(p.layers[3].ffn_width, 5);  // floor(16 / 3)
}

TEST(PrunePlanJson, CompactForm) {
  const json j = json::parse(R"({
    "name": "c", "n_layers": 4,
    "defaults": {"window_radius": 2, "ffn_ratio": 2},
    "head_mask": [[1,1,1,1], [1,1,1,1], [0,1,0,1], [1,0,0,0]],
    "layer_cut": 3,
    "overrides": {"1-2": {"ffn_width": null}, "0": {"heads": {"first": 1}}}
  })");
  const PruningPlan p = plan_from_json(j, kShape);
  EXPECT_EQ(p.semantics, PruneSemantics::Exact);  // the default
  ASSERT_EQ(p.layers.size(), 4u);
  EXPECT_EQ(p.layers[0].head_keep, keep({1, 0, 0, 0}));
  EXPECT_EQ(p.layers[0].ffn_width, 8);
  EXPECT_TRUE(p.layers[1].head_keep.empty());  // all kept: normalized to "all"
  EXPECT_EQ(p.layers[1].ffn_width, -1);
  EXPECT_EQ(p.layers[2].head_keep, keep({0, 1, 0, 1}));
  EXPECT_EQ(p.layers[2].ffn_width, -1);
  EXPECT_TRUE(p.layers[2].visual_active);
  EXPECT_FALSE(p.layers[3].visual_active);
  EXPECT_EQ(p.layers[3].ffn_width, 8);
  for (const LayerPlan& lp : p.layers) EXPECT_EQ(lp.window_radius, 2);
}

TEST(PrunePlanJson, NoPruningKeysIsDense) {
  const PruningPlan p = plan_from_json(json::object(), kShape);
  EXPECT_EQ(p.name, "custom");
  EXPECT_TRUE(p.layers.empty());
  const PruningPlan q = plan_from_json(json::parse(R"({"defaults": {}})"), kShape);
  EXPECT_EQ(q.layers.size(), 4u);
  EXPECT_TRUE(q.is_dense());
  EXPECT_TRUE(plan_from_json(json::parse(R"({"layers": []})"), kShape).layers.empty());
}

PruningPlan sample_plan() {
  PruningPlan p;
  p.name = "sample";
  p.semantics = PruneSemantics::Fast;
  p.layers.resize(4);
  p.layers[0].window_radius = 2;
  p.layers[1] = {true, keep({0, 1, 1, 0}), 8, 2};
  p.layers[2] = {false, {}, 8, 2};
  p.layers[3] = {false, keep({1, 0, 0, 0}), 8, 2};
  return p;
}

TEST(PrunePlanJson, RoundTripsBothForms) {
  PruningPlan variants[3] = {sample_plan(), sample_plan(), sample_plan()};
  variants[1].layers[2].visual_active = true;  // an inactive layer below an active one
  variants[1].layers[0].visual_active = false;
  variants[2].layers = {};  // dense, no layers
  for (const PruningPlan& p : variants) {
    const PruningPlan full = plan_from_json(plan_to_json(p), kShape);
    EXPECT_TRUE(same_plan(full, p)) << plan_to_json(p).dump();
    const json compact = plan_to_compact_json(p);
    const PruningPlan back = plan_from_json(compact, kShape);
    EXPECT_TRUE(same_plan(back, p)) << compact.dump();
  }
  // The compact form of the sample is what a person would write.
  const json c = plan_to_compact_json(sample_plan());
  EXPECT_EQ(c["defaults"], json::parse(R"({"ffn_width": 8, "window_radius": 2})"));
  EXPECT_EQ(c["layer_cut"], 2);
  EXPECT_EQ(c["overrides"], json::parse(R"({"0": {"ffn_width": null}})"));
}

TEST(PrunePlanJson, NormalizesFullKeepLists) {
  const json j = json::parse(R"({"layers": [{"heads": [3, 2, 1, 0]}, {"ffn_width": 16}, {}, {}]})");
  const PruningPlan p = plan_from_json(j, kShape);
  EXPECT_TRUE(p.layers[0].head_keep.empty());
  EXPECT_EQ(p.layers[1].ffn_width, -1);  // the whole FFN
  EXPECT_TRUE(p.is_dense());
}

TEST(PrunePlanJson, FileRoundTripAndRelativeMask) {
  const std::string dir = test::temp_dir();
  write_plan_file(dir + "/p.json", sample_plan());
  EXPECT_TRUE(same_plan(read_plan_file(dir + "/p.json", kShape), sample_plan()));
  write_plan_file(dir + "/c.json", sample_plan(), /*compact=*/true);
  EXPECT_TRUE(same_plan(read_plan_file(dir + "/c.json", kShape), sample_plan()));

  write_head_mask_json(dir + "/mask.json",
                       {{1, 1, 1, 1}, {1, 0, 0, 0}, {0, 0, 0, 1}, {1, 1, 0, 0}});
  std::ofstream(dir + "/m.json") << R"({"head_mask": "mask.json", "layer_cut": 3})";
  const PruningPlan m = read_plan_file(dir + "/m.json", kShape);
  EXPECT_EQ(m.name, "m");  // the file's stem when the file has no name
  EXPECT_TRUE(m.layers[0].head_keep.empty());
  EXPECT_EQ(m.layers[1].head_keep, keep({1, 0, 0, 0}));
  EXPECT_EQ(m.layers[2].head_keep, keep({0, 0, 0, 1}));
  EXPECT_FALSE(m.layers[3].visual_active);
}

// Each bad document must fail with a message holding every needle.
void expect_error(const std::string& text, std::initializer_list<const char*> needles) {
  try {
    plan_from_json(json::parse(text), kShape, "plan 'x'");
    ADD_FAILURE() << "no error for " << text;
  } catch (const Error& e) {
    for (const char* n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "'" << n << "' not in: " << e.what();
  }
}

TEST(PrunePlanJson, ValidationErrors) {
  expect_error(R"({"layers": [{}, {}, {}, {"heads": [0, 4]}]})",
               {"plan 'x'", "layer 3", "'heads'", "index 4", "0..3"});
  expect_error(R"({"layers": [{}, {"heads": [1, 1]}, {}, {}]})", {"layer 1", "twice"});
  expect_error(R"({"layers": [{}, {"ffn_width": 17}, {}, {}]})",
               {"layer 1", "'ffn_width' 17", "1..16"});
  expect_error(R"({"layers": [{}, {"ffn_width": 0}, {}, {}]})", {"layer 1", "'ffn_width' 0"});
  expect_error(R"({"layers": [{}, {}, {"window_radius": -1}, {}]})",
               {"layer 2", "'window_radius' -1", "negative"});
  expect_error(R"({"layers": [{}, {}, {"window": 4}, {}]})", {"layer 2", "odd"});
  expect_error(R"({"layers": [{}, {}, {}]})", {"3 layers", "model has 4"});
  expect_error(R"({"layers": [{}, {"ffn": 3}, {}, {}]})",
               {"layer 1", "unknown key 'ffn'", "allowed: visual, heads, ffn_width"});
  expect_error(R"({"nme": "a"})", {"top level", "unknown key 'nme'", "allowed: name, semantics"});
  expect_error(R"({"semantics": "quick"})", {"'semantics'", "exact, fast"});
  expect_error(R"({"layers": [], "defaults": {}})", {"cannot be combined"});
  expect_error(R"({"n_layers": 5})", {"'n_layers' is 5", "4 layers"});
  expect_error(R"({"layer_cut": 5})", {"'layer_cut' 5", "0..4"});
  expect_error(R"({"overrides": {"2-5": {}}})", {"overrides \"2-5\"", "layer 5"});
  expect_error(R"({"overrides": {"a": {}}})", {"'a' is not a layer index"});
  expect_error(R"({"overrides": {"1-2": {}, "2": {}}})", {"layer 2", "also named"});
  expect_error(R"({"overrides": {"1": {"visual": 1}}})", {"layer 1", "'visual'"});
  expect_error(R"({"head_mask": [[1, 1, 1, 1]]})", {"'head_mask'", "[1 layers, 4 heads]"});
  expect_error(R"({"head_mask": [[1, 1, 1, 1], [1], [1], [1]]})", {"layer 1"});
  expect_error(
      R"({"defaults": {"heads": "all"}, "head_mask": [[1,1,1,1],[1,1,1,1],[1,1,1,1],[1,1,1,1]]})",
      {"'defaults' sets 'heads'"});
  expect_error(R"({"defaults": {"ffn_ratio": 0.5}})", {"'defaults'", "'ffn_ratio'", ">= 1"});
  expect_error(R"({"defaults": {"ffn_width": 4, "ffn_ratio": 2}})", {"not both"});
  expect_error(R"({"defaults": {"heads": "some"}})", {"'heads' must be"});
  expect_error(R"({"defaults": {"heads": {"first": 5}}})", {"first 5", "0..4"});
  expect_error(R"([1])", {"JSON object"});
}

TEST(PrunePlanJson, ValidatePlanChecksStructs) {
  PruningPlan p = sample_plan();
  EXPECT_NO_THROW(validate_plan(p, kShape));
  p.layers[1].head_keep = keep({1, 0});
  EXPECT_THROW(validate_plan(p, kShape), Error);
  p = sample_plan();
  p.layers[1].head_keep = keep({1, 0, 2, 0});
  EXPECT_THROW(validate_plan(p, kShape), Error);
  p = sample_plan();
  EXPECT_THROW(validate_plan(p, {5, 4, 16}), Error);
}

}  // namespace
}  // namespace yopo
