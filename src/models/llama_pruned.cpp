// A LLaMA layer whose visual rows follow a pruning plan (YOPO, shared/docs/yopo-method.md):
// visual Q/K/V/O only for the heads the plan keeps (row / column sub-matrices of the weights,
// no copies), windowed visual attention over key spans, and the first ffn_width FFN neurons.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "models/decoder_rows.h"
#include "models/llama.h"
#include "ops/activations.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/span_attention.h"

namespace yopo {

namespace {

struct Run {
  int64_t first, count;
};

// Maximal runs of set flags.
std::vector<Run> runs_of(const std::vector<uint8_t>& flags) {
  std::vector<Run> runs;
  for (int64_t i = 0; i < int64_t(flags.size());) {
    if (!flags[size_t(i)]) {
      ++i;
      continue;
    }
    int64_t j = i;
    while (j < int64_t(flags.size()) && flags[size_t(j)]) ++j;
    runs.push_back({i, j - i});
    i = j;
  }
  return runs;
}

void gather_rows(const float* src, int64_t ld, const std::vector<int64_t>& rows, float* dst,
                 int64_t cols) {
  for (size_t i = 0; i < rows.size(); ++i)
    std::copy_n(src + rows[i] * ld, cols, dst + int64_t(i) * cols);
}

void scatter_rows(const float* src, int64_t cols, const std::vector<int64_t>& rows, float* dst,
                  int64_t ld, bool add) {
  for (size_t i = 0; i < rows.size(); ++i) {
    const float* s = src + int64_t(i) * cols;
    float* t = dst + rows[i] * ld;
    if (add) {
      for (int64_t c = 0; c < cols; ++c) t[c] += s[c];
    } else {
      std::copy_n(s, cols, t);
    }
  }
}

// y[rows, all heads' columns] = x * W^T restricted to the given head runs (other columns kept).
void matmul_head_runs(ops::Context& ctx, const float* x, int64_t M, int64_t ldx,
                      const ops::WeightMatrix& w, const std::vector<Run>& runs, int64_t hd,
                      float* y, int64_t ldy) {
  for (const Run& r : runs)
    ops::matmul(ctx, x, M, ldx, w.view(r.first * hd, r.count * hd, 0, w.cols), y + r.first * hd,
                ldy);
}

// Appends the spans of cache rows [from, to) split at the layer's visual segments.
void add_causal_spans(std::vector<ops::KeySpan>& spans, const std::vector<VisualSegment>& segs,
                      int64_t from, int64_t to) {
  int64_t at = from;
  for (const VisualSegment& s : segs) {
    if (s.end() <= at || s.start >= to) continue;
    if (s.start > at) spans.push_back({int32_t(at), int32_t(s.start), 0});
    const int64_t b = std::max(at, s.start), e = std::min(to, s.end());
    spans.push_back({int32_t(b), int32_t(e), 1});
    at = e;
  }
  if (at < to) spans.push_back({int32_t(at), int32_t(to), 0});
}

}  // namespace

void LlamaModel::pruned_layer(ops::Context& ctx, KvCache& cache, int64_t l, DecoderRows& r,
                              const LayerPlan& lp, PruneSemantics sem, FlopCounter* flops,
                              const DebugHook& hook) const {
  const LlamaLayerWeights& L = w_.layers[size_t(l)];
  const int64_t n = r.n, d = cfg_.dim, hd = cfg_.head_dim, H = cfg_.n_heads,
                KV = cfg_.n_kv_heads, group = H / KV, qd = H * hd, kvd = KV * hd,
                m = cfg_.ffn_dim, base = cache.rows(l);
  const bool exact = sem == PruneSemantics::Exact;
  const int64_t mv = lp.ffn_width < 0 ? m : lp.ffn_width;

  // Heads that work for visual rows.
  std::vector<uint8_t> live(static_cast<size_t>(H)), kv_live(static_cast<size_t>(KV), 0),
      all_kv(static_cast<size_t>(KV), 1);
  for (int64_t h = 0; h < H; ++h) {
    live[size_t(h)] = lp.head_active(h) ? 1 : 0;
    if (live[size_t(h)]) kv_live[size_t(h / group)] = 1;
  }
  const std::vector<Run> q_runs = runs_of(live), kv_runs = runs_of(kv_live);
  const std::vector<Run> k_runs = exact ? runs_of(all_kv) : kv_runs;

  std::vector<int64_t> T, V;
  for (int64_t i = 0; i < n; ++i) (r.visual[size_t(i)] ? V : T).push_back(i);
  const int64_t nT = int64_t(T.size()), nV = int64_t(V.size());

  // Attention block: projections of text rows in full, of visual rows for the kept heads.
  std::vector<float> h(size_t(n * d)), q(size_t(n * qd), 0.0f);
  ops::rms_norm(ctx, r.x.data(), n, d, d, L.attn_norm.data(), cfg_.norm_eps, h.data(), d);
  if (hook) hook("attn_norm", l, h.data(), n, d, d);
  float* kc = cache.k(l, base);
  float* vc = cache.v(l, base);
  std::vector<float> hs, tq, tk, tv;
  auto project = [&](const std::vector<int64_t>& rows, const std::vector<Run>* qr,
                     const std::vector<Run>* kr, const std::vector<Run>* vr) {
    const int64_t M = int64_t(rows.size());
    if (M == 0) return;
    hs.assign(size_t(M * d), 0.0f);
    gather_rows(h.data(), d, rows, hs.data(), d);
    tq.assign(size_t(M * qd), 0.0f);
    tk.assign(size_t(M * kvd), 0.0f);
    tv.assign(size_t(M * kvd), 0.0f);
    if (qr) {
      matmul_head_runs(ctx, hs.data(), M, d, L.wq, *qr, hd, tq.data(), qd);
      matmul_head_runs(ctx, hs.data(), M, d, L.wk, *kr, hd, tk.data(), kvd);
      matmul_head_runs(ctx, hs.data(), M, d, L.wv, *vr, hd, tv.data(), kvd);
    } else {
      ops::matmul(ctx, hs.data(), M, d, L.wq.full(), tq.data(), qd);
      ops::matmul(ctx, hs.data(), M, d, L.wk.full(), tk.data(), kvd);
      ops::matmul(ctx, hs.data(), M, d, L.wv.full(), tv.data(), kvd);
    }
    scatter_rows(tq.data(), qd, rows, q.data(), qd, false);
    scatter_rows(tk.data(), kvd, rows, kc, kvd, false);
    scatter_rows(tv.data(), kvd, rows, vc, kvd, false);
  };
  project(T, nullptr, nullptr, nullptr);
  project(V, &q_runs, &k_runs, &kv_runs);
  rope_.apply(q.data(), n, H, qd, r.pos.data(), cache.size() + r.n);
  rope_.apply(kc, n, KV, kvd, r.pos.data(), cache.size() + r.n);
  cache.append_rows(l, n, r.segments);

  // Key spans of every query (cache coordinates of this layer).
  const std::vector<VisualSegment>& segs = cache.visual(l).images;
  std::vector<int32_t> offsets(size_t(n + 1), 0);
  std::vector<ops::KeySpan> spans;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = base + i;
    if (!r.visual[size_t(i)]) {
      add_causal_spans(spans, segs, 0, row + 1);
    } else {
      const VisualSegment& s = r.segment_of(i);
      const int64_t s0 = base + s.start, g = i - s.start, gr = g / s.grid_cols,
                    gc = g % s.grid_cols;
      add_causal_spans(spans, segs, 0, s0);
      if (lp.window_radius < 0) {
        spans.push_back({int32_t(s0), int32_t(row + 1), 1});
      } else {
        const int64_t R = lp.window_radius;
        const int64_t c0 = std::max<int64_t>(0, gc - R), c1 = std::min(s.grid_cols - 1, gc + R);
        for (int64_t rr = std::max<int64_t>(0, gr - R); rr <= std::min(s.grid_rows - 1, gr + R);
             ++rr)
          spans.push_back({int32_t(s0 + rr * s.grid_cols + c0),
                           int32_t(s0 + rr * s.grid_cols + c1 + 1), 1});
      }
    }
    offsets[size_t(i + 1)] = int32_t(spans.size());
  }
  std::vector<ops::VisualKeys> modes(static_cast<size_t>(H));
  for (int64_t hh = 0; hh < H; ++hh)
    modes[size_t(hh)] = live[size_t(hh)] ? ops::VisualKeys::Live
                        : exact           ? ops::VisualKeys::Dead
                                          : ops::VisualKeys::Excluded;
  std::vector<float> att(size_t(n * qd), 0.0f);
  ops::SpanAttentionArgs a;
  a.q = q.data();
  a.n_q = n;
  a.ldq = qd;
  a.k = cache.k(l);
  a.v = cache.v(l);
  a.ldkv = kvd;
  a.shape = {H, KV, hd};
  a.scale = 1.0f / std::sqrt(float(hd));
  a.span_offsets = offsets.data();
  a.spans = spans.data();
  a.head_mode = modes.data();
  a.visual_query = r.visual.data();
  a.out = att.data();
  a.ldo = qd;
  a.n_kv = base + n;
  ops::attention_spans(ctx, a);
  if (hook) hook("kqv_out", l, att.data(), n, qd, qd);

  // Output projection: text rows in full, visual rows through the kept heads' columns.
  std::vector<float> ts;
  auto out_proj = [&](const std::vector<int64_t>& rows, const std::vector<Run>* runs) {
    const int64_t M = int64_t(rows.size());
    if (M == 0 || (runs && runs->empty())) return;
    hs.assign(size_t(M * qd), 0.0f);
    gather_rows(att.data(), qd, rows, hs.data(), qd);
    ts.assign(size_t(M * d), 0.0f);
    if (!runs) {
      ops::matmul(ctx, hs.data(), M, qd, L.wo.full(), ts.data(), d);
    } else {
      for (const Run& run : *runs)
        ops::matmul(ctx, hs.data() + run.first * hd, M, qd,
                    L.wo.view(0, d, run.first * hd, run.count * hd), ts.data(), d,
                    /*accumulate=*/true);
    }
    scatter_rows(ts.data(), d, rows, r.x.data(), d, true);
  };
  out_proj(T, nullptr);
  out_proj(V, &q_runs);
  if (hook) hook("ffn_inp", l, r.x.data(), n, d, d);

  // Feed-forward: text rows over all neurons, visual rows over the first mv.
  ops::rms_norm(ctx, r.x.data(), n, d, d, L.ffn_norm.data(), cfg_.norm_eps, h.data(), d);
  if (hook) hook("ffn_norm", l, h.data(), n, d, d);
  std::vector<float> gate, up;
  auto ffn = [&](const std::vector<int64_t>& rows, int64_t width) {
    const int64_t M = int64_t(rows.size());
    if (M == 0) return;
    hs.assign(size_t(M * d), 0.0f);
    gather_rows(h.data(), d, rows, hs.data(), d);
    gate.assign(size_t(M * width), 0.0f);
    up.assign(size_t(M * width), 0.0f);
    ops::matmul(ctx, hs.data(), M, d, L.w_gate.view(0, width, 0, d), gate.data(), width);
    ops::matmul(ctx, hs.data(), M, d, L.w_up.view(0, width, 0, d), up.data(), width);
    ops::silu_mul(gate.data(), up.data(), gate.data(), M * width);
    ts.assign(size_t(M * d), 0.0f);
    ops::matmul(ctx, gate.data(), M, width, L.w_down.view(0, d, 0, width), ts.data(), d);
    scatter_rows(ts.data(), d, rows, r.x.data(), d, true);
  };
  ffn(T, m);
  ffn(V, mv);
  if (hook) hook("l_out", l, r.x.data(), n, d, d);

  if (flops) {
    LayerFlops& f = flops->layer(l);
    auto heads_in = [](const std::vector<Run>& runs) {
      int64_t c = 0;
      for (const Run& x : runs) c += x.count;
      return c;
    };
    const double dd = double(d), dhd = double(hd);
    f.text.proj += 2.0 * dd * double(2 * qd + 2 * kvd) * double(nT);
    f.text.ffn += 6.0 * dd * double(m) * double(nT);
    f.visual.proj += 2.0 * dd * dhd *
                     double(2 * heads_in(q_runs) + heads_in(k_runs) + heads_in(kv_runs)) *
                     double(nV);
    f.visual.ffn += 6.0 * dd * double(mv) * double(nV);
    // Attention: 2*hd per score, 2*hd per value term, as the kernel executes them.
    for (int64_t i = 0; i < n; ++i) {
      double keys = 0, vis = 0;
      for (int32_t s = offsets[size_t(i)]; s < offsets[size_t(i + 1)]; ++s) {
        const double len = double(spans[size_t(s)].end - spans[size_t(s)].begin);
        keys += len;
        if (spans[size_t(s)].visual) vis += len;
      }
      double work = 0;
      for (int64_t hh = 0; hh < H; ++hh) {
        if (live[size_t(hh)]) {
          work += 2 * keys;
        } else if (r.visual[size_t(i)]) {
          continue;  // visual query in a pruned head: skipped
        } else if (exact) {
          work += keys + (keys - vis);  // every score, values of non-visual keys
        } else {
          work += 2 * (keys - vis);
        }
      }
      (r.visual[size_t(i)] ? f.visual : f.text).attn += 2.0 * dhd * work;
    }
  }
}

}  // namespace yopo
