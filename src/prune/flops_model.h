// Analytical FLOPs of a pruning plan, in two conventions.
//
// 1. The YOPO paper's convention (paper_visual_flops): work done FOR THE n VISUAL TOKENS ONLY,
//    per decoder layer, with d the hidden size and m the FFN size:
//      dense layer  8·n·d² + 4·n²·d + 6·n·d·m             (Q,K,V,O; QKᵀ and AV with no causal
//                                                           halving; gate, up, down)
//      plan layer   8·n·d²·h + 4·n·k·d·h + 6·n·d·m_l
//    h   = kept heads / all heads of the layer;
//    k   = average number of keys a visual query sees: without a window k = n (the dense
//          convention); with a window of radius R, k = s + (average clipped window size over
//          the grid), s the text tokens before the image (prefix_tokens), the average computed
//          exactly over the grid (not (2R+1)²);
//    m_l = the layer's visual FFN width (m when unpruned);
//    a layer with visual_active == false costs 0.
//    LLaVA-1.5-7B dense: 238.57 GFLOPs per layer, 7.634 TFLOPs in all; 13B: 14.888 TFLOPs.
//
// 2. The engine's EXECUTED convention for a whole prompt (predicted_executed_flops), matching
//    models/flop_counter.h: a product [M,K]x[K,N] costs 2·M·N·K; attention costs 2·head_dim per
//    (query, key, head) for the score and 2·head_dim per (query, key, head) whose value is
//    summed; norms, RoPE, softmax, activations are free. What the prediction ASSUMES THE
//    DECODER DOES (one prefill of the whole prompt; the counts do not depend on how the prompt
//    is split into batches, and a decoded token costs what one more text row after the image
//    costs, so decode steps are covered by raising n_text_after):
//
//    Notation: d hidden size, m FFN size, H query heads, G KV heads (H/G query heads share one),
//    hd head dim, n = grid_rows·grid_cols visual rows, t_b text rows before the image, t_a
//    after, for layer l: hk kept query heads (0 when visual_active is false), gk KV heads with
//    at least one kept query head, m_l visual FFN width, R window radius (-1 none).
//    "keys of a visual query" (in a kept head): the t_b text keys plus, with a window, the
//    clipped (2R+1)² square around it on the grid (later neighbours included), without a window
//    the causal visual keys (itself and earlier ones).
//
//    Text rows are always dense: proj 2·T·d·(H·hd + 2·G·hd) + 2·T·H·hd·d, ffn 6·T·d·m (T = t_b
//    + t_a); text query i (0-based sequence index) has i+1 causal keys.
//    Output head: 2·d·vocab per row with logits (only the last row by default), not in layers.
//
//    exact semantics, every layer (inactive layers = every head pruned, their own FFN width):
//      visual proj  = 2·n·d·(hk·hd)   Q of kept heads
//                   + 2·n·d·(G·hd)    K of ALL KV heads (the un-renormalized denominators)
//                   + 2·n·d·(gk·hd)   V of KV heads some kept head reads
//                   + 2·n·(hk·hd)·d   O over the kept heads' columns
//      visual ffn   = 6·n·d·m_l
//      visual attn  = 4·hd · hk · (keys of all visual queries); pruned heads skip visual queries
//      text attn    = kept heads: 4·hd per causal key; pruned heads: 4·hd per text key and
//                     2·hd per visual key (scored, weight zeroed, value not summed: "Dead")
//    fast semantics, layers before the first layer with visual_active == false:
//      visual proj  = 2·n·d·(hk·hd + 2·gk·hd) + 2·n·(hk·hd)·d     (Q, K, V, O of kept heads)
//      visual ffn   = 6·n·d·m_l
//      visual attn  = as in exact
//      text attn    = kept heads: 4·hd per causal key; pruned heads: 4·hd per TEXT key only
//                     (visual keys are excluded, the softmax renormalizes over the rest)
//    fast semantics, from the first layer with visual_active == false on: the visual rows are
//      gone (no projections, FFN, keys or queries): visual parts 0, text queries see only text
//      keys (4·hd each).
//    A layer plan that is dense reproduces the dense count exactly in both semantics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/flop_counter.h"
#include "models/pruning_plan.h"
#include "models/token_layout.h"

namespace yopo {

struct LlamaConfig;

// ---- Paper convention -------------------------------------------------------------------

struct ModelShape {
  int64_t n_layers = 0;
  int64_t d = 0;  // hidden size
  int64_t m = 0;  // FFN size
  int64_t n_heads = 0;
  std::string name;
};

ModelShape llava15_7b();   // 32 layers, d 4096, m 11008, 32 heads
ModelShape llava15_13b();  // 40 layers, d 5120, m 13824, 40 heads
ModelShape shape_of(const LlamaConfig& cfg, const std::string& name = "model");
// "llava-1.5-7b" / "llava-1.5-13b" (also "7b", "13b"); throws otherwise.
ModelShape named_shape(const std::string& name);
// An MHA LLaMA config with the shape's sizes (head dim d / heads) and LLaVA-1.5's 32000-token
// vocabulary, for shapes known only by name.
LlamaConfig config_of_shape(const ModelShape& s, int64_t vocab_size = 32000);
// True when the shape is one of the two LLaVA-1.5 decoders (compared by sizes, not by name).
bool is_llava15_7b(const ModelShape& s);
bool is_llava15_13b(const ModelShape& s);

// Visual keys summed over all visual queries with a (2R+1)² window clipped to a rows x cols grid
// (self included), and its average per query.
int64_t window_key_total(int64_t rows, int64_t cols, int64_t radius);
double average_window_keys(int64_t rows, int64_t cols, int64_t radius);

struct VisualFlopsReport {
  std::vector<double> per_layer;  // the plan's cost per layer
  std::vector<FlopParts> parts;   // the same split into proj / attn / ffn
  double dense_layer = 0;         // one dense layer
  double total = 0;
  double dense_total = 0;
  double fraction = 0;  // total / dense_total
};

// n_visual must equal grid²; the plan must fit the shape (empty plan = dense).
VisualFlopsReport paper_visual_flops(const ModelShape& shape, const PruningPlan& plan,
                                     int64_t n_visual = 576, int64_t grid = 24,
                                     int64_t prefix_tokens = 35);

// ---- Executed convention (the engine's FlopCounter) ------------------------------------

// One image in a prompt: t_b text rows, the grid of visual rows (row-major), t_a text rows.
struct TokenLayoutSummary {
  int64_t n_text_before = 0;
  int64_t grid_rows = 0;
  int64_t grid_cols = 0;
  int64_t n_text_after = 0;
  int64_t n_visual() const { return grid_rows * grid_cols; }
  int64_t n_rows() const { return n_text_before + n_visual() + n_text_after; }
};

// A sequence of n_rows rows holding exactly one image (throws otherwise).
TokenLayoutSummary summarize_layout(const TokenLayout& layout, int64_t n_rows);

// Per decoder layer, for both semantics (plan.semantics); see the header comment.
std::vector<LayerFlops> predicted_executed_flops(const LlamaConfig& cfg, const PruningPlan& plan,
                                                 const TokenLayoutSummary& layout);
// The output head for rows_with_logits rows (1: the last row only).
double predicted_head_flops(const LlamaConfig& cfg, int64_t rows_with_logits = 1);

}  // namespace yopo
