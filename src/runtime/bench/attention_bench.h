// Timing the attention of the visual queries alone, for one decoder layer's shape, dense
// (ops::attention_causal: each visual query sees the text before the image and every earlier
// visual token) against YOPO's windowed attention (ops::attention_spans: the text before the
// image plus a (2R+1)^2 square on the grid). Dense cost grows with the square of the visual
// token count, windowed cost linearly, so the time per visual token of the windowed kernel
// should stay flat as the grid grows.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/span_attention.h"
#include "runtime/bench/stats.h"

namespace yopo::bench {

// Key spans of the grid_rows x grid_cols visual queries of an image that starts at cache row
// `prefix` (after `prefix` text rows): the text span [0, prefix) (when prefix > 0) and one span
// per grid row of the clipped square of radius `radius` around the query (visual = 1). offsets
// gets visual_tokens + 1 entries.
void visual_window_spans(int64_t prefix, int64_t grid_rows, int64_t grid_cols, int64_t radius,
                         std::vector<int32_t>& offsets, std::vector<ops::KeySpan>& spans);

struct AttentionPoint {
  int64_t grid = 0;
  int64_t visual_tokens = 0;
  int64_t prefix = 0;
  int64_t radius = 0;
  Summary dense_ms, window_ms;
  double dense_gflop = 0, window_gflop = 0;  // 4*head_dim per (query, key, head)
  double dense_us_per_token() const { return dense_ms.median * 1e3 / double(visual_tokens); }
  double window_us_per_token() const { return window_ms.median * 1e3 / double(visual_tokens); }
};

// Random f32 Q, K, V ([prefix + grid^2] rows of n_heads * head_dim), one untimed warm-up of
// each kernel, then `reps` timed calls of each.
AttentionPoint measure_visual_attention(int threads, int64_t n_heads, int64_t head_dim,
                                        int64_t prefix, int64_t grid, int64_t radius, int reps,
                                        uint64_t seed);

}  // namespace yopo::bench
