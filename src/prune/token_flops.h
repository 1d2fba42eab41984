// FLOPs of the token-pruning baselines (models/token_pruning.h), analytically, in the engine's
// executed convention (models/flop_counter.h) and in the YOPO paper's visual convention
// (prune/flops_model.h), the ranking and merging work included: that selection cost is part
// of the comparison.
//
// Executed convention, one prefill of t_b text rows, the image, t_a text rows (decoded tokens
// count as more rows after the image): layer l holds v_l visual rows (token_schedule) and every
// layer is dense over its rows (text and visual alike: 2·d·(H·hd + 2·G·hd) + 2·H·hd·d
// projections and 6·d·m FFN per row, 4·hd·H per causal key, row i of the layer seeing i+1 keys).
// Ranking (FlopCounter::other), with N the rows entering the stage:
//   FastV       the last row's scores over layer K-1's N keys: 2·hd·H·N
//   PyramidDrop q of the last row 2·d·H·hd, k of every row 2·d·G·hd·N, scores 2·hd·H·N
//   SparseVLM   raters 2·n·t_a·d once; per stage each rater's scores over its causal keys
//               (2·hd·H·keys); clustering the recycled rows R: 2·R²·d (the distance matrix)
// Paper convention: 8·v_l·d² + 4·v_l²·d + 6·v_l·d·m per layer, plus the ranking work that
// involves visual tokens, added to the layer at the stage: FastV 2·v·d, PyramidDrop
// 2·d² + 2·v·d² + 2·v·d, SparseVLM 2·n·t_a·d (first stage) + 2·raters·v·d + 2·R²·d.
#pragma once

#include <cstdint>
#include <vector>

#include "models/flop_counter.h"
#include "models/token_pruning.h"
#include "prune/flops_model.h"

namespace yopo {

struct LlamaConfig;

std::vector<LayerFlops> predicted_token_layer_flops(const LlamaConfig& cfg, const TokenPruning& tp,
                                                    const TokenLayoutSummary& layout);
// layout: the PREFILL's rows (ranking happens there); raters: SparseVLM's raters as indices into
// the text after the image (ignored otherwise).
double predicted_token_ranking_flops(const LlamaConfig& cfg, const TokenPruning& tp,
                                     const TokenLayoutSummary& layout,
                                     const std::vector<int64_t>& raters = {});

// n_raters: SparseVLM raters assumed (the engine finds them at run time; about half the text
// after the image).
VisualFlopsReport paper_token_flops(const ModelShape& shape, const TokenPruning& tp,
                                    int64_t n_visual = 576, int64_t text_after = 20,
                                    int64_t n_raters = 10);

}  // namespace yopo
