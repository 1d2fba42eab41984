// KvCache::truncate: a prompt's cache cut back to a prefix and continued with another prompt
// sharing that prefix gives the logits of that prompt's whole prefill (dense and under a YOPO
// plan with exact semantics), and the cuts it cannot make are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "core/error.h"
#include "models/llama.h"
#include "prune/presets.h"
#include "support/random_llama.h"

namespace yopo {
namespace {

using test::PromptShape;
using test::RandomLlamaSpec;

float max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0, m = 1;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, std::fabs(a[i] - b[i]));
    m = std::max(m, std::fabs(b[i]));
  }
  return d / m;
}

TEST(KvCacheTruncate, ContinuingACutCacheGivesTheWholePrefillsLogits) {
  const test::RandomLlama rm =
      test::make_random_llama(RandomLlamaSpec{80, 8, 2, 12, 3, 160, 97, 23});
  const LlamaModel model = rm.engine_model();
  const int64_t d = rm.cfg.dim;
  // A: 5 text rows, a 6x6 image, 7 text rows. B shares A's first k rows, then goes on with
  // other rows: after the image (k = 43: 5 other text rows), or before it (k = 3: the image
  // moves to rows 8..43), as a chat's next prompt does.
  const PromptShape a_shape{5, 6, 6, 7}, b_shape{8, 6, 6, 4};
  const std::vector<float> a = test::random_prompt(rm, a_shape, 3);
  const std::vector<float> other = test::random_prompt(rm, b_shape, 4);
  const int64_t na = a_shape.total();
  std::vector<int32_t> pos(static_cast<size_t>(na + b_shape.total()));
  std::iota(pos.begin(), pos.end(), 0);
  const PruningPlan yopo = make_preset("yopo-25", rm.cfg, PruneSemantics::Exact);
  for (const PruningPlan* plan : {static_cast<const PruningPlan*>(nullptr), &yopo}) {
    SCOPED_TRACE(plan ? "yopo-25 exact" : "dense");
    for (int64_t k : {int64_t(43), int64_t(3)}) {
      SCOPED_TRACE("cut at " + std::to_string(k));
      std::vector<float> b(a.begin(), a.begin() + k * d);
      TokenLayout b_layout;
      if (k == 3) {  // B = A[:3] + other's rows 3.. (its image at 8)
        b.insert(b.end(), other.begin() + k * d, other.end());
        b_layout = b_shape.layout();
      } else {  // B = A[:43] (its image at 5) + other's last 5 rows
        b.insert(b.end(), other.end() - 5 * d, other.end());
        b_layout = a_shape.layout();
      }
      const int64_t nb = int64_t(b.size()) / d;
      ops::Context ctx(2);
      KvCache whole = model.make_cache(nb);
      const std::vector<float> want =
          model.forward(ctx, whole, {b.data(), nb, pos.data(), &b_layout, false, plan});

      const TokenLayout a_layout = a_shape.layout();
      KvCache cache = model.make_cache(std::max(na, nb));
      model.forward(ctx, cache, {a.data(), na, pos.data(), &a_layout, false, plan});
      ASSERT_TRUE(cache.uniform());
      cache.truncate(k);
      EXPECT_EQ(cache.size(), k);
      TokenLayout rest;  // B's images after the cut, relative to the batch
      for (VisualSegment s : b_layout.images)
        if (s.start >= k) rest.images.push_back({s.start - k, s.grid_rows, s.grid_cols});
      const std::vector<float> got =
          model.forward(ctx, cache, {b.data() + k * d, nb - k, pos.data() + k, &rest, false, plan});
      EXPECT_EQ(cache.size(), nb);
      EXPECT_LE(max_rel_diff(got, want), 1e-5f);
    }
    ops::Context ctx(2);
    const TokenLayout a_layout = a_shape.layout();
    KvCache cache = model.make_cache(na);
    model.forward(ctx, cache, {a.data(), na, pos.data(), &a_layout, false, plan});
    EXPECT_THROW(cache.truncate(a_shape.prefix + 10), Error);  // inside the image
    EXPECT_THROW(cache.truncate(na + 1), Error);
  }
}

}  // namespace
}  // namespace yopo
