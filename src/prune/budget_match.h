// Settings of the token-pruning baselines that meet a visual-FLOPs budget in the YOPO paper's
// convention (prune/token_flops.h), for comparing methods at equal compute, and each
// baseline's own published convention:
//   FastV and PyramidDrop: the FastV paper's per-layer 4·n·d² + 2·n²·d + 2·n·d·m over the
//     visual tokens n of each layer (PyramidDrop reports FastV's formula), summed;
//   SparseVLM: the average number of visual tokens a layer keeps (its "192 / 128 / 64 tokens").
// Searches keep each method's published structure: FastV K = 2 (the kept share varies),
// PyramidDrop at layers L/4, L/2, 3L/4 (lambda varies; stages move earlier, f/2f/3f, when no
// lambda fits), SparseVLM after layers 2, 6, 15 with the
// 192-token keep list scaled by a common factor.
#pragma once

#include <string>
#include <vector>

#include "prune/flops_model.h"

namespace yopo {

struct BudgetMatch {
  std::string method;      // fastv, pdrop, sparsevlm, yopo
  std::string spec;        // a --prune spec reproducing the setting
  double paper_flops = 0;  // YOPO paper convention, selection work included
  double paper_fraction = 0;
  std::string own_convention;  // the method's own measure, in words
  double own_value = 0;
  double own_fraction = 0;  // own measure / the dense value in that measure (0 when n/a)
};

// fraction: budget as a share of the dense paper-convention FLOPs (0.25, 0.12, ...). The
// largest setting of each baseline that stays within it; YOPO's preset of that budget
// (yopo-25 for >= 0.2, else yopo-12).
std::vector<BudgetMatch> match_budget(const ModelShape& shape, double fraction,
                                      int64_t n_visual = 576, int64_t text_after = 20);

}  // namespace yopo
