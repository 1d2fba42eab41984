#include "prune/flops_model.h"

#include <algorithm>

#include "core/error.h"
#include "models/llama_config.h"
#include "prune/token_flops.h"

namespace yopo {

ModelShape llava15_7b() {
  return {32, 4096, 11008, 32, "llava-1.5-7b"};
}
ModelShape llava15_13b() {
  return {40, 5120, 13824, 40, "llava-1.5-13b"};
}

ModelShape shape_of(const LlamaConfig& cfg, const std::string& name) {
  return {cfg.n_layers, cfg.dim, cfg.ffn_dim, cfg.n_heads, name};
}

LlamaConfig config_of_shape(const ModelShape& s, int64_t vocab_size) {
  check(s.n_heads > 0 && s.d % s.n_heads == 0, "model shape '", s.name, "': hidden size ", s.d,
        " is not a multiple of ", s.n_heads, " heads");
  LlamaConfig c;
  c.vocab_size = vocab_size;
  c.dim = s.d;
  c.n_layers = s.n_layers;
  c.n_heads = c.n_kv_heads = s.n_heads;
  c.head_dim = s.d / s.n_heads;
  c.ffn_dim = s.m;
  c.max_position = 4096;
  c.validate();
  return c;
}

ModelShape named_shape(const std::string& name) {
  if (name == "llava-1.5-7b" || name == "7b") return llava15_7b();
  if (name == "llava-1.5-13b" || name == "13b") return llava15_13b();
  fail("unknown model shape '", name, "' (known: llava-1.5-7b, llava-1.5-13b)");
}

namespace {

bool same_sizes(const ModelShape& a, const ModelShape& b) {
  return a.n_layers == b.n_layers && a.d == b.d && a.m == b.m && a.n_heads == b.n_heads;
}

// Keys one axis contributes: sum over positions p of the clipped span [p-R, p+R] ∩ [0, n).
int64_t axis_span_total(int64_t n, int64_t radius) {
  int64_t total = 0;
  for (int64_t p = 0; p < n; ++p)
    total += std::min(n - 1, p + radius) - std::max<int64_t>(0, p - radius) + 1;
  return total;
}

int64_t kept_heads(const LayerPlan* lp, int64_t n_heads) {
  if (lp == nullptr) return n_heads;
  int64_t k = 0;
  for (int64_t h = 0; h < n_heads; ++h) k += lp->head_active(h) ? 1 : 0;
  return k;
}

}  // namespace

bool is_llava15_7b(const ModelShape& s) {
  return same_sizes(s, llava15_7b());
}
bool is_llava15_13b(const ModelShape& s) {
  return same_sizes(s, llava15_13b());
}

int64_t window_key_total(int64_t rows, int64_t cols, int64_t radius) {
  check(rows >= 0 && cols >= 0 && radius >= 0, "window key count needs a non-negative grid (", rows,
        "x", cols, ") and radius (", radius, ")");
  // The clipped square is the product of a clipped row span and a clipped column span, so the
  // sum over the grid factorizes into the two axes.
  return axis_span_total(rows, radius) * axis_span_total(cols, radius);
}

double average_window_keys(int64_t rows, int64_t cols, int64_t radius) {
  check(rows > 0 && cols > 0, "average window size needs a non-empty grid (", rows, "x", cols, ")");
  return double(window_key_total(rows, cols, radius)) / double(rows * cols);
}

VisualFlopsReport paper_visual_flops(const ModelShape& shape, const PruningPlan& plan,
                                     int64_t n_visual, int64_t grid, int64_t prefix_tokens) {
  check(shape.n_layers > 0 && shape.d > 0 && shape.m > 0 && shape.n_heads > 0, "model shape '",
        shape.name, "' has a non-positive size");
  check(n_visual > 0 && grid > 0 && grid * grid == n_visual, "the FLOPs model needs a square ",
        "grid of visual tokens: ", n_visual, " tokens is not ", grid, "x", grid);
  check(prefix_tokens >= 0, "the number of text tokens before the image must be >= 0");
  plan.validate(shape.n_layers, shape.n_heads, shape.m);
  if (plan.tokens.active()) return paper_token_flops(shape, plan.tokens, n_visual);
  const double n = double(n_visual), d = double(shape.d), m = double(shape.m);

  VisualFlopsReport r;
  r.dense_layer = 8 * n * d * d + 4 * n * n * d + 6 * n * d * m;
  r.dense_total = r.dense_layer * double(shape.n_layers);
  for (int64_t l = 0; l < shape.n_layers; ++l) {
    const LayerPlan* lp = plan.layer(l);
    FlopParts p;
    if (lp == nullptr || lp->visual_active) {
      const double h = double(kept_heads(lp, shape.n_heads)) / double(shape.n_heads);
      const int64_t radius = lp ? lp->window_radius : -1;
      const double k =
          radius >= 0 ? double(prefix_tokens) + average_window_keys(grid, grid, radius) : n;
      const double ml = lp && lp->ffn_width >= 0 ? double(lp->ffn_width) : m;
      p.proj = 8 * n * d * d * h;
      p.attn = 4 * n * k * d * h;
      p.ffn = 6 * n * d * ml;
    }
    r.parts.push_back(p);
    r.per_layer.push_back(p.total());
    r.total += p.total();
  }
  r.fraction = r.total / r.dense_total;
  return r;
}

TokenLayoutSummary summarize_layout(const TokenLayout& layout, int64_t n_rows) {
  check(layout.images.size() == 1, "the executed-FLOPs model handles one image per prompt, not ",
        layout.images.size());
  const VisualSegment& s = layout.images[0];
  check(s.start >= 0 && s.grid_rows > 0 && s.grid_cols > 0 && s.end() <= n_rows,
        "the image segment [", s.start, ", ", s.end(), ") does not fit a prompt of ", n_rows,
        " rows");
  return {s.start, s.grid_rows, s.grid_cols, n_rows - s.end()};
}

std::vector<LayerFlops> predicted_executed_flops(const LlamaConfig& cfg, const PruningPlan& plan,
                                                 const TokenLayoutSummary& t) {
  check(t.n_text_before >= 0 && t.n_text_after >= 0 && t.grid_rows >= 0 && t.grid_cols >= 0,
        "prompt layout has a negative size");
  plan.validate(cfg.n_layers, cfg.n_heads, cfg.ffn_dim);
  if (plan.tokens.active()) return predicted_token_layer_flops(cfg, plan.tokens, t);
  const int64_t H = cfg.n_heads, G = cfg.n_kv_heads, group = H / G;
  const double d = double(cfg.dim), m = double(cfg.ffn_dim), hd = double(cfg.head_dim);
  const double n = double(t.n_visual()), tb = double(t.n_text_before), ta = double(t.n_text_after),
               T = tb + ta;
  // Keys seen by all text queries: text keys (causal) and visual keys (rows after the image).
  const double text_text_keys = tb * (tb + 1) / 2 + ta * tb + ta * (ta + 1) / 2;
  const double text_visual_keys = ta * n;

  LayerFlops dense_text;
  dense_text.text.proj =
      2 * T * d * (double(H) * hd + 2 * double(G) * hd) + 2 * T * double(H) * hd * d;
  dense_text.text.ffn = 6 * T * d * m;

  bool visual_gone = false;  // fast: rows left the sequence at an inactive layer
  std::vector<LayerFlops> out;
  for (int64_t l = 0; l < cfg.n_layers; ++l) {
    const LayerPlan* lp = plan.layer(l);
    const bool fast = plan.semantics == PruneSemantics::Fast;
    if (fast && lp && !lp->visual_active) visual_gone = true;
    LayerFlops f = dense_text;
    if (visual_gone || n == 0) {
      f.text.attn = 4 * hd * double(H) * text_text_keys;
      out.push_back(f);
      continue;
    }
    int64_t hk = 0, gk = 0;
    for (int64_t g = 0; g < G; ++g) {
      bool any = false;
      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        const bool kept = lp == nullptr || lp->head_active(h);
        hk += kept ? 1 : 0;
        any = any || kept;
      }
      gk += any ? 1 : 0;
    }
    const int64_t pruned = H - hk;
    const int64_t radius = lp ? lp->window_radius : -1;
    const double ml = lp && lp->ffn_width >= 0 ? double(lp->ffn_width) : m;
    const double visual_query_keys =
        n * tb + (radius >= 0 ? double(window_key_total(t.grid_rows, t.grid_cols, radius))
                              : n * (n + 1) / 2);

    const double q_and_o = 2 * n * d * double(hk) * hd * 2;
    if (fast) {
      f.visual.proj = q_and_o + 2 * n * d * 2 * double(gk) * hd;
    } else {
      f.visual.proj = q_and_o + 2 * n * d * double(G) * hd + 2 * n * d * double(gk) * hd;
    }
    f.visual.ffn = 6 * n * d * ml;
    f.visual.attn = 4 * hd * double(hk) * visual_query_keys;
    f.text.attn = 4 * hd * double(hk) * (text_text_keys + text_visual_keys) +
                  4 * hd * double(pruned) * text_text_keys;
    if (!fast) f.text.attn += 2 * hd * double(pruned) * text_visual_keys;
    out.push_back(f);
  }
  return out;
}

double predicted_head_flops(const LlamaConfig& cfg, int64_t rows_with_logits) {
  return 2 * double(rows_with_logits) * double(cfg.dim) * double(cfg.vocab_size);
}

}  // namespace yopo
