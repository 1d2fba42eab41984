// `yopo flops`: the paper's dense figures, preset budgets, model paths and clear errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/run_command.h"
#include "support/test_paths.h"

namespace yopo::test {
namespace {

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST(FlopsCli, DenseFiguresOfThePaper) {
  // yopo-method.md: LLaVA-1.5-7B 238.57 GFLOPs per layer, 7.634 TFLOPs; 13B 14.888 TFLOPs.
  CommandResult r = run_command({cli_path(), "flops", "--shape", "llava-1.5-7b"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "total: 7.634 TFLOPs")) << r.out;
  EXPECT_TRUE(has(r.out, "238.57")) << r.out;
  EXPECT_TRUE(has(r.out, "yopo-25")) << r.out;  // the preset table
  r = run_command({cli_path(), "flops", "--shape", "llava-1.5-13b"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "total: 14.888 TFLOPs")) << r.out;
}

TEST(FlopsCli, PresetJsonWithinBudget) {
  for (const auto& [preset, target] : {std::pair{"yopo-25", 0.25}, std::pair{"yopo-12", 0.12}}) {
    const CommandResult r =
        run_command({cli_path(), "flops", "--shape", "llava-1.5-7b", "--prune", preset, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["plan"], preset);
    const double fraction = j["paper"]["fraction"].get<double>();
    EXPECT_NEAR(fraction / target, 1.0, 0.01) << preset;
    // total / dense_total is the fraction; the dense total is the paper's 7.634 T.
    EXPECT_NEAR(j["paper"]["dense_total"].get<double>(), 7634304368640.0, 1.0);
    EXPECT_NEAR(j["paper"]["total"].get<double>() / 7634304368640.0, fraction, 1e-12);
    EXPECT_EQ(j["paper"]["per_layer"].size(), 32u);
  }
}

TEST(FlopsCli, PrunedTablePrintsShare) {
  const CommandResult r =
      run_command({cli_path(), "flops", "--shape", "llava-1.5-7b", "--prune", "layercut:keep=16"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Half of the layers, each dense: exactly 50% of 7.634 T = 3.817 T.
  EXPECT_TRUE(has(r.out, "total: 3.817 TFLOPs of 7.634 TFLOPs dense (50.00%)")) << r.out;
}

TEST(FlopsCli, ModelPathAddsExecutedPrediction) {
  // The tiny LLaVA fixture: 2 layers, a 84px image of 14px patches = a 6x6 grid.
  const CommandResult r = run_command({cli_path(), "flops", "--shape", fixture("tiny_llava/hf"),
                                       "--prune", "window:r=1", "--semantics", "fast", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["visual_tokens"], 36);
  EXPECT_EQ(j["model"]["layers"], 2);
  EXPECT_EQ(j["semantics"], "fast");
  ASSERT_TRUE(j.contains("executed"));
  EXPECT_EQ(j["executed"]["per_layer"].size(), 2u);
  EXPECT_EQ(j["executed"]["layout"]["grid_rows"], 6);
  EXPECT_LT(j["executed"]["visual"]["attn"].get<double>(),
            j["executed"]["dense_visual"]["attn"].get<double>());
  const CommandResult t = run_command({cli_path(), "flops", "--shape", fixture("tiny_llava/orig")});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_TRUE(has(t.out, "predicted executed FLOPs")) << t.out;
  EXPECT_TRUE(has(t.out, "36 visual tokens")) << t.out;
}

TEST(FlopsCli, HeadMaskFeedsThePresets) {
  YOPO_REQUIRE_ASSET(mask, "yopo-headmasks/headmask_7b_16.json");
  const CommandResult r = run_command(
      {cli_path(), "flops", "--shape", "llava-1.5-7b", "--prune", "yopo-25", "--head-mask", mask});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "(25.09%)")) << r.out;
}

TEST(FlopsCli, Errors) {
  CommandResult r = run_command({cli_path(), "flops", "--shape", "llava-1.5-7b", "--prune", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "unknown plan spec 'x'")) << r.err;
  r = run_command({cli_path(), "flops", "--shape", "/no/such/model"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "neither llava-1.5-7b")) << r.err;
  r = run_command({cli_path(), "flops", "--shape", "llava-1.5-7b", "--visual-tokens", "500"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "not a square")) << r.err;
  r = run_command({cli_path(), "flops", "--shape", "llava-1.5-7b", "--semantics", "quick"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "quick")) << r.err;
}

}  // namespace
}  // namespace yopo::test
