// Token-pruning baselines YOPO is compared with (shared/docs/yopo-method.md, "Token-pruning
// baselines"): FastV, PyramidDrop and SparseVLM remove visual rows from the sequence (and from
// the KV cache of the later layers) at layer boundaries during the prefill, choosing the rows
// that stay by an attention ranking. This header holds what the decoder consults; spec strings
// live in src/prune/plan_spec.h.
//
// What each method computes (as its authors' code runs it on LLaVA-1.5):
//   FastV (K, R): one stage at boundary K. The head-averaged attention probabilities of layer
//     K-1 from the LAST row of the prefill to each visual row rank them; the top
//     round_half_even((1-R)·n) stay (Python's round). Kept rows keep their position ids.
//   PyramidDrop (layers, ratios): a stage at each listed layer l. Before layer l runs, a light
//     attention with layer l's own input norm, q_proj and k_proj and RoPE at the rows' current
//     positions (query: the last row; keys: the rows of this call) ranks the visual rows; the
//     top floor(ratio_s · n0) stay, n0 the prompt's visual rows (ratios are cumulative, e.g.
//     0.5, 0.25, 0.125 for lambda = 0.5). Positions are renumbered contiguously after the drop.
//   SparseVLM v1.5 (layers, keeps): raters = text rows after the image whose score
//     mean over visual rows of softmax_over_text(v·tᵀ) (layer-0 inputs, no scaling) is above
//     the mean score. A stage after layer s (boundary s+1): visual rows are ranked by the
//     head-averaged attention of layer s from the raters, averaged over raters; the top
//     min(keep, v-1) stay (v the visual rows now). Recycling: of the deleted rows (their hidden
//     states after layer s), the top int(0.3·deleted)+1 by the same score are clustered by
//     density-peak k-NN into int(count/10)+1 clusters (tokens_merge.h) and the cluster means are
//     inserted right after the kept visual rows; they count as visual rows from then on.
//     Positions are renumbered contiguously after each stage.
// Ranking ties: the higher score first; equal scores: the lower row index first. Kept rows stay
// in sequence order. Stages act only in a call holding visual rows (the prefill); position
// renumbering applies in every call, so a decoded token in a layer after a stage gets the next
// position after that layer's rows (consistent with the renumbered prompt). One image per
// prompt.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace yopo {

enum class TokenMethod { None, FastV, PDrop, SparseVLM };
const char* token_method_name(TokenMethod m);  // "none", "fastv", "pdrop", "sparsevlm"

struct TokenStage {
  int64_t layer = 0;  // the dropped rows leave before this layer runs (its boundary)
  double ratio = -1;  // FastV: kept share of the visual rows now; PDrop: cumulative kept share
  int64_t keep = -1;  // SparseVLM: visual rows kept (before recycling)
};

struct TokenPruning {
  TokenMethod method = TokenMethod::None;
  std::vector<TokenStage> stages;  // boundaries strictly increasing
  double recycle_share = 0.3;      // SparseVLM: share of the deleted rows that are clustered

  bool active() const { return method != TokenMethod::None && !stages.empty(); }
  bool renumbers_positions() const {
    return method == TokenMethod::PDrop || method == TokenMethod::SparseVLM;
  }
  // FastV and SparseVLM rank with the attention of the layer before the boundary.
  bool ranks_with_previous_layer() const {
    return method == TokenMethod::FastV || method == TokenMethod::SparseVLM;
  }
  // Throws when a stage lies outside the model, boundaries are not increasing, or a ratio /
  // count is out of range.
  void validate(int64_t n_layers) const;
};

// Visual rows through the layers for a prompt with n_visual of them.
struct TokenSchedule {
  std::vector<int64_t> visual_rows;  // per layer: visual rows the layer processes
  std::vector<int64_t> kept;         // per stage: ranked rows kept
  std::vector<int64_t> recycled;     // per stage: deleted rows that are clustered (SparseVLM)
  std::vector<int64_t> merged;       // per stage: cluster rows inserted (SparseVLM)
};
// Throws yopo::Error when a stage asks for more visual rows than there are.
TokenSchedule token_schedule(const TokenPruning& tp, int64_t n_visual, int64_t n_layers);

// What the stages of one prefill chose (for tests and diagnostics), in batch-row indices.
struct TokenPruneTrace {
  std::vector<int64_t> raters;  // SparseVLM's text raters
  struct Stage {
    int64_t layer = 0;
    std::vector<int64_t> kept;  // ranked rows kept, in sequence order (-1: a merged row)
    int64_t merged = 0;         // cluster rows inserted
  };
  std::vector<Stage> stages;
};

// Python's round(): halves go to the even neighbour.
int64_t round_half_even(double x);

}  // namespace yopo
