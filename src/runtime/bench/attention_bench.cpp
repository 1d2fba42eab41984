#include "runtime/bench/attention_bench.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "ops/attention.h"
#include "ops/context.h"
#include "runtime/bench/random_fill.h"
#include "runtime/bench/timer.h"

namespace yopo::bench {

void visual_window_spans(int64_t prefix, int64_t grid_rows, int64_t grid_cols, int64_t radius,
                         std::vector<int32_t>& offsets, std::vector<ops::KeySpan>& spans) {
  check(prefix >= 0 && grid_rows >= 1 && grid_cols >= 1 && radius >= 0,
        "window spans: bad sizes (prefix ", prefix, ", grid ", grid_rows, " x ", grid_cols,
        ", radius ", radius, ")");
  offsets.assign(1, 0);
  spans.clear();
  for (int64_t r = 0; r < grid_rows; ++r) {
    for (int64_t c = 0; c < grid_cols; ++c) {
      if (prefix > 0) spans.push_back({0, int32_t(prefix), 0});
      const int64_t c0 = std::max<int64_t>(0, c - radius), c1 = std::min(grid_cols - 1, c + radius);
      for (int64_t rr = std::max<int64_t>(0, r - radius); rr <= std::min(grid_rows - 1, r + radius);
           ++rr)
        spans.push_back(
            {int32_t(prefix + rr * grid_cols + c0), int32_t(prefix + rr * grid_cols + c1 + 1), 1});
      offsets.push_back(int32_t(spans.size()));
    }
  }
}

AttentionPoint measure_visual_attention(int threads, int64_t n_heads, int64_t head_dim,
                                        int64_t prefix, int64_t grid, int64_t radius, int reps,
                                        uint64_t seed) {
  check(reps >= 1, "at least one repetition is needed, not ", reps);
  check(n_heads >= 1 && head_dim >= 1, "attention shape must be positive");
  const int64_t nv = grid * grid, rows = prefix + nv, w = n_heads * head_dim;
  ops::Context ctx(threads);
  ops::OmpThreadScope omp_scope(ctx.threads());
  std::vector<float> q(size_t(rows * w)), k(q.size()), v(q.size()), out(size_t(nv * w));
  fill_uniform(q.data(), rows * w, derive_seed(seed, 1), 1.0f);
  fill_uniform(k.data(), rows * w, derive_seed(seed, 2), 1.0f);
  fill_uniform(v.data(), rows * w, derive_seed(seed, 3), 1.0f);
  const ops::AttentionShape shape{n_heads, n_heads, head_dim};
  const float scale = 1.0f / std::sqrt(float(head_dim));
  const float* qv = q.data() + prefix * w;  // the visual queries

  std::vector<int32_t> offsets;
  std::vector<ops::KeySpan> spans;
  visual_window_spans(prefix, grid, grid, radius, offsets, spans);
  std::vector<uint8_t> visual_query(size_t(nv), 1);
  ops::SpanAttentionArgs a;
  a.q = qv;
  a.n_q = nv;
  a.ldq = w;
  a.k = k.data();
  a.v = v.data();
  a.ldkv = w;
  a.shape = shape;
  a.scale = scale;
  a.span_offsets = offsets.data();
  a.spans = spans.data();
  a.visual_query = visual_query.data();
  a.out = out.data();
  a.ldo = w;
  a.n_kv = rows;

  auto dense = [&] {
    ops::attention_causal(ctx, qv, nv, w, prefix, k.data(), v.data(), rows, w, shape, scale,
                          out.data(), w);
  };
  auto window = [&] { ops::attention_spans(ctx, a); };
  auto time = [&](auto&& f) {
    f();
    std::vector<double> ms;
    for (int r = 0; r < reps; ++r) {
      Stopwatch t;
      f();
      ms.push_back(t.ms());
    }
    return summarize(ms);
  };
  AttentionPoint p;
  p.grid = grid;
  p.visual_tokens = nv;
  p.prefix = prefix;
  p.radius = radius;
  p.dense_ms = time(dense);
  p.window_ms = time(window);
  // Dense: visual query i (0-based) sees prefix + i + 1 keys.
  const double dense_pairs = double(nv) * double(prefix) + double(nv) * double(nv + 1) / 2.0;
  p.dense_gflop = 4.0 * double(head_dim) * double(n_heads) * dense_pairs / 1e9;
  const ops::SpanAttentionWork work = ops::attention_spans_work(a);
  p.window_gflop = 2.0 * double(head_dim) * (work.scores + work.value_terms) / 1e9;
  return p;
}

}  // namespace yopo::bench
