// Token-pruning baselines in the LLaMA decoder (models/token_pruning.h): ranking, dropping,
// merging and position renumbering at layer boundaries.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "models/decoder_rows.h"
#include "models/llama.h"
#include "models/token_ranking.h"
#include "models/token_run.h"
#include "ops/matmul.h"
#include "ops/norm.h"

namespace yopo {

void LlamaModel::token_begin(TokenRun& t, const DecoderRows& r, const PruningPlan& plan,
                             FlopCounter* flops) const {
  t.tp = &plan.tokens;
  const char* name = token_method_name(plan.tokens.method);
  t.ranking = r.has_visual();
  if (!t.ranking) return;
  check(r.segments.size() == 1, name, " prunes the visual tokens of one image; this prompt has ",
        r.segments.size());
  const VisualSegment& seg = r.segments.front();
  t.n_visual = seg.size();
  // Every stage's count is checked here, before any layer touches the cache.
  t.schedule = token_schedule(plan.tokens, t.n_visual, cfg_.n_layers);
  if (plan.tokens.method == TokenMethod::SparseVLM) {
    const int64_t nt = r.n - seg.end();
    check(nt > 0, name, " rates visual tokens with the text after the image; this prompt has none");
    std::vector<int64_t> raters =
        tokens::sparsevlm_raters(&r.x[size_t(seg.start * r.dim)], t.n_visual,
                                 &r.x[size_t(seg.end() * r.dim)], nt, r.dim, r.dim);
    if (raters.empty())  // every text row scores the same (e.g. one text row): all of them rate
      for (int64_t j = 0; j < nt; ++j) raters.push_back(j);
    for (int64_t j : raters) t.raters.push_back(r.batch_index[size_t(seg.end() + j)]);
    if (flops) flops->other += 2.0 * double(t.n_visual) * double(nt) * double(r.dim);
    if (t.trace) t.trace->raters = t.raters;
  }
}

void LlamaModel::token_boundary(ops::Context& ctx, const KvCache& cache, int64_t l, DecoderRows& r,
                                TokenRun& t, std::vector<float>& final_x,
                                FlopCounter* flops) const {
  const TokenPruning& tp = *t.tp;
  const int64_t s = t.stage_at(l), d = cfg_.dim, H = cfg_.n_heads, hd = cfg_.head_dim, qd = H * hd,
                kvd = cfg_.n_kv_heads * hd;
  const ops::AttentionShape shape{H, cfg_.n_kv_heads, hd};
  const float scale = 1.0f / std::sqrt(float(hd));

  if (s >= 0 && t.ranking && r.has_visual()) {
    const VisualSegment seg = r.segments.front();
    const int64_t v = seg.size();
    std::vector<double> score(size_t(v), 0.0);
    if (tp.ranks_with_previous_layer()) {
      // Attention of layer l-1 from the captured query rows over that layer's keys.
      const int64_t nq = int64_t(r.capture_rows.size());
      check(nq > 0 && int64_t(r.captured_q.size()) == nq * qd,
            "internal: token ranking found no captured queries");
      const int64_t n_keys = cache.rows(l - 1), base = n_keys - r.n;
      std::vector<int64_t> limit(static_cast<size_t>(nq));
      for (int64_t i = 0; i < nq; ++i) limit[size_t(i)] = base + r.capture_rows[size_t(i)] + 1;
      const std::vector<double> p = tokens::head_mean_attention(
          r.captured_q.data(), nq, qd, limit.data(), cache.k(l - 1), n_keys, kvd, shape, scale);
      for (int64_t i = 0; i < nq; ++i) {
        for (int64_t j = 0; j < v; ++j)
          score[size_t(j)] += p[size_t(i * n_keys + base + seg.start + j)] / double(nq);
        if (flops) flops->other += 2.0 * double(hd) * double(H) * double(limit[size_t(i)]);
      }
    } else {
      // PyramidDrop: light attention with this layer's norm, q_proj, k_proj and RoPE; query:
      // the last row, keys: the rows of this call.
      const LlamaLayerWeights& L = w_.layers[size_t(l)];
      const int64_t n = r.n;
      std::vector<float> h(size_t(n * d)), q(static_cast<size_t>(qd)), k(size_t(n * kvd));
      ops::rms_norm(ctx, r.x.data(), n, d, d, L.attn_norm.data(), cfg_.norm_eps, h.data(), d);
      ops::matmul(ctx, &h[size_t((n - 1) * d)], 1, d, L.wq.full(), q.data(), qd);
      ops::matmul(ctx, h.data(), n, d, L.wk.full(), k.data(), kvd);
      rope_.apply(q.data(), 1, H, qd, &r.pos[size_t(n - 1)], cache.size() + n);
      rope_.apply(k.data(), n, cfg_.n_kv_heads, kvd, r.pos.data(), cache.size() + n);
      const int64_t limit = n;
      const std::vector<double> p =
          tokens::head_mean_attention(q.data(), 1, qd, &limit, k.data(), n, kvd, shape, scale);
      for (int64_t j = 0; j < v; ++j) score[size_t(j)] = p[size_t(seg.start + j)];
      if (flops)
        flops->other += 2.0 * double(d) * double(qd) + 2.0 * double(d) * double(kvd) * double(n) +
                        2.0 * double(hd) * double(H) * double(n);
    }
    const int64_t kept = t.schedule.kept[size_t(s)], n_rec = t.schedule.recycled[size_t(s)],
                  n_merged = t.schedule.merged[size_t(s)];
    std::vector<int64_t> keep = tokens::top_k(score, kept);
    std::sort(keep.begin(), keep.end());
    std::vector<uint8_t> is_kept(size_t(v), 0);
    for (int64_t j : keep) is_kept[size_t(j)] = 1;
    // Dropped rows leave with their current hidden state (all_logits reads it).
    std::vector<int64_t> deleted;
    std::vector<double> deleted_score;
    for (int64_t j = 0; j < v; ++j) {
      if (is_kept[size_t(j)]) continue;
      const int64_t row = seg.start + j, bi = r.batch_index[size_t(row)];
      if (bi >= 0) std::copy_n(&r.x[size_t(row * d)], d, &final_x[size_t(bi * d)]);
      deleted.push_back(row);
      deleted_score.push_back(score[size_t(j)]);
    }
    std::vector<float> merged;
    if (n_merged > 0) {
      // SparseVLM recycling: the best-rated deleted rows, clustered, as cluster means.
      const std::vector<int64_t> pick = tokens::top_k(deleted_score, n_rec);
      std::vector<float> xs(size_t(int64_t(pick.size()) * d));
      for (size_t i = 0; i < pick.size(); ++i)
        std::copy_n(&r.x[size_t(deleted[size_t(pick[i])] * d)], d, &xs[i * size_t(d)]);
      merged = tokens::cluster_merge(xs.data(), int64_t(pick.size()), d, d, n_merged);
      if (flops) flops->other += 2.0 * double(pick.size()) * double(pick.size()) * double(d);
    }
    if (t.trace) {
      TokenPruneTrace::Stage st;
      st.layer = l;
      for (int64_t j : keep) st.kept.push_back(r.batch_index[size_t(seg.start + j)]);
      st.merged = n_merged;
      t.trace->stages.push_back(st);
    }
    for (int64_t& j : keep) j += seg.start;
    r.select_visual(keep, merged.data(), n_merged);
  }
  if (s >= 0 && tp.renumbers_positions()) {
    const int64_t base = cache.rows(l);
    for (int64_t i = 0; i < r.n; ++i) r.pos[size_t(i)] = int32_t(base + i);
  }

  // Queries the next boundary ranks with, captured by this layer.
  r.capture_rows.clear();
  r.captured_q.clear();
  if (t.ranking && tp.ranks_with_previous_layer() && t.stage_at(l + 1) >= 0 && r.has_visual()) {
    if (tp.method == TokenMethod::FastV) {
      r.capture_rows.push_back(r.n - 1);
    } else {
      for (int64_t i = 0; i < r.n; ++i)
        if (std::find(t.raters.begin(), t.raters.end(), r.batch_index[size_t(i)]) != t.raters.end())
          r.capture_rows.push_back(i);
    }
  }
}

}  // namespace yopo
