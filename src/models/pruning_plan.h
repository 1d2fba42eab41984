// What a forward pass may skip for visual tokens, layer by layer: the data the decoder consults.
// Policies that build plans (presets, JSON, checkpoint knobs, FLOPs targets) live in src/prune/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/token_pruning.h"

namespace yopo {

struct LlamaConfig;

// exact: the YOPO reference computation (un-renormalized softmax over pruned heads' visual keys;
//        visual rows keep flowing through every layer).
// fast:  what the paper's FLOPs count: pruned heads get no visual Q/K/V/O work, text queries
//        attend over non-visual keys only (renormalized) in them, and visual rows leave the
//        sequence and the KV cache from the first inactive layer on.
enum class PruneSemantics { Exact, Fast };

const char* semantics_name(PruneSemantics s);
PruneSemantics parse_semantics(const std::string& s);  // "exact" | "fast"

struct LayerPlan {
  // false: the layer does no visual computation (YOPO layer dropping, l >= layercut_num): as if
  // every head were pruned for visual tokens.
  bool visual_active = true;
  // Per attention head: 1 = active for visual tokens. Empty = all heads active.
  std::vector<uint8_t> head_keep;
  // Visual rows use only the first ffn_width FFN neurons; -1 = all.
  int64_t ffn_width = -1;
  // Visual-visual attention limited to a (2r+1)x(2r+1) square on the image grid (clipped at the
  // borders, self included, later neighbours included); -1 = ordinary causal attention.
  int64_t window_radius = -1;

  bool head_active(int64_t h) const {
    return visual_active && (head_keep.empty() || head_keep[size_t(h)] != 0);
  }
  bool is_dense() const {
    return visual_active && ffn_width < 0 && window_radius < 0 && all_heads_kept();
  }
  bool all_heads_kept() const {
    for (uint8_t k : head_keep)
      if (!k) return false;
    return true;
  }
};

struct PruningPlan {
  std::string name = "dense";
  PruneSemantics semantics = PruneSemantics::Exact;
  std::vector<LayerPlan> layers;  // empty: dense; else one per decoder layer
  // Token-pruning baselines (models/token_pruning.h); not combined with YOPO layer plans.
  TokenPruning tokens;

  bool is_dense() const {
    if (tokens.active()) return false;
    for (const LayerPlan& l : layers)
      if (!l.is_dense()) return false;
    return true;
  }
  const LayerPlan* layer(int64_t l) const { return layers.empty() ? nullptr : &layers[size_t(l)]; }
  // Throws yopo::Error when the plan does not fit the model (layer count, head index out of
  // range, FFN width larger than the FFN, negative window, token stages outside the model,
  // token pruning combined with YOPO layer plans).
  void validate(int64_t n_layers, int64_t n_heads, int64_t ffn_dim) const;
};

}  // namespace yopo
