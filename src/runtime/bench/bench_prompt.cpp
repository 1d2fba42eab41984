#include "runtime/bench/bench_prompt.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "runtime/bench/random_fill.h"

namespace yopo::bench {

TokenLayout PromptShape::layout() const {
  TokenLayout l;
  l.images.push_back({prefix_tokens, grid_rows, grid_cols});
  return l;
}

void PromptShape::validate() const {
  check(prefix_tokens >= 1, "the prompt needs at least BOS before the image (prefix ",
        prefix_tokens, ")");
  check(suffix_tokens >= 0, "negative suffix length ", suffix_tokens);
  check(grid_rows >= 1 && grid_cols >= 1, "the image grid must not be empty (", grid_rows, " x ",
        grid_cols, ")");
}

int64_t grid_side_for(int64_t visual_tokens) {
  check(visual_tokens >= 1, "the number of visual tokens must be positive, not ", visual_tokens);
  int64_t g = int64_t(std::sqrt(double(visual_tokens)));
  while (g * g < visual_tokens) ++g;
  while (g > 1 && (g - 1) * (g - 1) >= visual_tokens) --g;
  return g;
}

PromptShape llava_prompt(int64_t grid, int64_t prefix_tokens, int64_t suffix_tokens) {
  PromptShape s;
  s.prefix_tokens = prefix_tokens;
  s.grid_rows = grid;
  s.grid_cols = grid;
  s.suffix_tokens = suffix_tokens;
  s.validate();
  return s;
}

PromptRows make_prompt_rows(const LlamaModel& model, const PromptShape& shape, uint64_t seed) {
  shape.validate();
  const LlamaConfig& cfg = model.config();
  const int64_t d = cfg.dim, n = shape.total();
  PromptRows p;
  p.shape = shape;
  p.layout = shape.layout();
  p.embeddings.resize(size_t(n * d));
  p.positions.resize(size_t(n));
  std::iota(p.positions.begin(), p.positions.end(), 0);
  p.token_ids.assign(size_t(n), -1);
  const int64_t v0 = shape.prefix_tokens, v1 = v0 + shape.visual_tokens();
  // Random ids above the special tokens (0..2), BOS first.
  const int64_t lo = std::min<int64_t>(3, cfg.vocab_size - 1);
  for (int64_t i = 0; i < n; ++i) {
    if (i >= v0 && i < v1) continue;
    const int32_t id = i == 0 ? cfg.bos_id
                              : int32_t(lo + int64_t(splitmix64_at(seed, uint64_t(i)) %
                                                     uint64_t(cfg.vocab_size - lo)));
    p.token_ids[size_t(i)] = id;
    model.embed(&id, 1, &p.embeddings[size_t(i * d)]);
  }
  fill_uniform(&p.embeddings[size_t(v0 * d)], shape.visual_tokens() * d, derive_seed(seed, 0x715),
               1.0f);
  return p;
}

}  // namespace yopo::bench
