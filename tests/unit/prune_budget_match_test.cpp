// Baseline settings matched to a FLOPs budget: each stays within the budget and uses most of it.
#include <gtest/gtest.h>

#include "prune/budget_match.h"
#include "prune/token_flops.h"
#include "prune/token_spec.h"

namespace yopo {
namespace {

TEST(BudgetMatch, SettingsMeetTheBudgetTightly) {
  for (const ModelShape& s : {llava15_7b(), llava15_13b()})
    for (double budget : {0.25, 0.12}) {
      const std::vector<BudgetMatch> rows = match_budget(s, budget);
      ASSERT_EQ(rows.size(), 4u);
      for (const BudgetMatch& b : rows) {
        if (b.method == "yopo") {
          EXPECT_NEAR(b.paper_fraction, budget, 0.006) << b.spec;
          continue;
        }
        EXPECT_LE(b.paper_fraction, budget + 1e-12) << s.name << " " << b.spec;
        EXPECT_GE(b.paper_fraction, budget - 0.005) << s.name << " " << b.spec;
        // The spec reproduces the reported FLOPs.
        const TokenPruning tp = parse_token_spec(b.spec, s.n_layers);
        EXPECT_DOUBLE_EQ(paper_token_flops(s, tp).total, b.paper_flops) << b.spec;
      }
    }
}

// FastV's own convention worked by hand for a 2-layer toy shape: n=4 visual tokens, d=2, m=3,
// K=1, R=0.5 -> layer 0 keeps 4, layer 1 keeps 2:
// 4nd^2 + 2n^2d + 2ndm = (64 + 64 + 48) + (32 + 16 + 24) = 176 + 72 = 248; dense 352.
TEST(BudgetMatch, FastVConventionWorkedExample) {
  ModelShape s{2, 2, 3, 1, "toy"};
  const TokenPruning tp = parse_token_spec("fastv:K=1,R=0.5", 2);
  const TokenSchedule sch = token_schedule(tp, 4, 2);
  double own = 0;
  for (int64_t v : sch.visual_rows) own += 4.0 * v * 4 + 2.0 * v * v * 2 + 2.0 * v * 2 * 3;
  EXPECT_DOUBLE_EQ(own, 248.0);
  // Paper convention: 8nd^2 + 4n^2d + 6ndm: layer 0 (128+128+144) = 400, layer 1 (64+32+72) =
  // 168, plus FastV's selection: one query over 4 visual keys, 2*4*2 = 16 -> 584.
  EXPECT_DOUBLE_EQ(paper_token_flops(s, tp, 4, 0).total, 584.0);
}

}  // namespace
}  // namespace yopo
