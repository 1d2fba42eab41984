#include "prune/token_flops.h"

#include "core/error.h"
#include "models/llama_config.h"

namespace yopo {

std::vector<LayerFlops> predicted_token_layer_flops(const LlamaConfig& cfg, const TokenPruning& tp,
                                                    const TokenLayoutSummary& t) {
  const TokenSchedule s = token_schedule(tp, t.n_visual(), cfg.n_layers);
  const double d = double(cfg.dim), m = double(cfg.ffn_dim), hd = double(cfg.head_dim),
               H = double(cfg.n_heads), G = double(cfg.n_kv_heads);
  const double tb = double(t.n_text_before), ta = double(t.n_text_after);
  const double proj = 2 * d * (H * hd + 2 * G * hd) + 2 * H * hd * d, ffn = 6 * d * m;
  std::vector<LayerFlops> out;
  for (int64_t l = 0; l < cfg.n_layers; ++l) {
    const double v = double(s.visual_rows[size_t(l)]);
    LayerFlops f;
    f.text.proj = (tb + ta) * proj;
    f.text.ffn = (tb + ta) * ffn;
    f.text.attn = 4 * hd * H * (tb * (tb + 1) / 2 + ta * (tb + v) + ta * (ta + 1) / 2);
    f.visual.proj = v * proj;
    f.visual.ffn = v * ffn;
    f.visual.attn = 4 * hd * H * (v * tb + v * (v + 1) / 2);
    out.push_back(f);
  }
  return out;
}

double predicted_token_ranking_flops(const LlamaConfig& cfg, const TokenPruning& tp,
                                     const TokenLayoutSummary& t,
                                     const std::vector<int64_t>& raters) {
  if (!tp.active() || t.n_visual() == 0) return 0;
  const TokenSchedule s = token_schedule(tp, t.n_visual(), cfg.n_layers);
  const double d = double(cfg.dim), hd = double(cfg.head_dim), H = double(cfg.n_heads),
               G = double(cfg.n_kv_heads);
  const double tb = double(t.n_text_before), ta = double(t.n_text_after);
  double total = 0;
  if (tp.method == TokenMethod::SparseVLM) total += 2 * double(t.n_visual()) * ta * d;
  for (size_t i = 0; i < tp.stages.size(); ++i) {
    const int64_t l = tp.stages[i].layer;
    const double v = double(l > 0 ? s.visual_rows[size_t(l - 1)] : t.n_visual());
    const double N = tb + v + ta;
    switch (tp.method) {
      case TokenMethod::FastV:
        total += 2 * hd * H * N;
        break;
      case TokenMethod::PDrop:
        total += 2 * d * H * hd + 2 * d * G * hd * N + 2 * hd * H * N;
        break;
      case TokenMethod::SparseVLM: {
        for (int64_t j : raters) total += 2 * hd * H * (tb + v + double(j) + 1);
        const double R = double(s.recycled[i]);
        total += 2 * R * R * d;
        break;
      }
      default:
        break;
    }
  }
  return total;
}

VisualFlopsReport paper_token_flops(const ModelShape& shape, const TokenPruning& tp,
                                    int64_t n_visual, int64_t text_after, int64_t n_raters) {
  const TokenSchedule s = token_schedule(tp, n_visual, shape.n_layers);
  const double d = double(shape.d), m = double(shape.m);
  auto layer_cost = [&](double v, FlopParts& p) {
    p.proj = 8 * v * d * d;
    p.attn = 4 * v * v * d;
    p.ffn = 6 * v * d * m;
    return p.total();
  };
  VisualFlopsReport r;
  FlopParts dense;
  r.dense_layer = layer_cost(double(n_visual), dense);
  for (int64_t l = 0; l < shape.n_layers; ++l) {
    FlopParts p;
    r.per_layer.push_back(layer_cost(double(s.visual_rows[size_t(l)]), p));
    r.parts.push_back(p);
  }
  for (size_t i = 0; i < tp.stages.size(); ++i) {
    const int64_t l = tp.stages[i].layer;
    const double v = double(l > 0 ? s.visual_rows[size_t(l - 1)] : n_visual);
    double extra = 0;
    if (tp.method == TokenMethod::FastV) extra = 2 * v * d;
    if (tp.method == TokenMethod::PDrop) extra = 2 * d * d + 2 * v * d * d + 2 * v * d;
    if (tp.method == TokenMethod::SparseVLM) {
      const double R = double(s.recycled[i]);
      extra = 2 * double(n_raters) * v * d + 2 * R * R * d;
      if (i == 0) extra += 2 * double(n_visual) * double(text_after) * d;
    }
    r.per_layer[size_t(l)] += extra;
    r.parts[size_t(l)].attn += extra;
  }
  for (double x : r.per_layer) r.total += x;
  r.dense_total = r.dense_layer * double(shape.n_layers);
  r.fraction = r.dense_total > 0 ? r.total / r.dense_total : 0;
  return r;
}

}  // namespace yopo
