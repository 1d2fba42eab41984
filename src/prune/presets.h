// Named pruning presets that reach a share of the dense visual FLOPs in the YOPO paper's
// convention (prune/flops_model.h), like the paper's two budgets:
//   yopo-25: 25% of the dense visual FLOPs (LLaVA-1.5-7B: 1.91 T of 7.634 T)
//   yopo-12: 12%                           (LLaVA-1.5-7B: 0.92 T)
// Every preset uses the paper's window w = 5 (radius 2) and FFN ratio r = 2 in every layer;
// layers >= L_keep do no visual work. The heads kept in layers < L_keep:
//  - without a head mask: every head in layers 0 and 1, the FIRST K heads in the others;
//    for LLaVA-1.5-7B and -13B, L_keep = round(L * layer share) (1/2 for yopo-25, 1/4 for
//    yopo-12) and K is the head count whose paper-convention cost is nearest the target
//    (all within 1% relative of it):
//        7B  yopo-25: L_keep 16, K 15 (25.06%)   yopo-12: L_keep 8, K 9 (11.92%)
//        13B yopo-25: L_keep 20, K 19 (25.04%)   yopo-12: L_keep 10, K 13 (11.97%)
//    other shapes (e.g. tiny test models) scale the 7B values: L_keep = round(L * L_keep/32),
//    K = round(H * K/32), the all-heads layers round(L * 2/32), with the same w and r; their
//    fraction is whatever that gives (reported, not guaranteed);
//  - with a head mask (the released one or a calibrated one): the mask's heads, and L_keep is
//    the layer count whose cost is nearest the target (a mask fixes the heads, so the target is
//    only approached as closely as whole layers allow: headmask_7b_16 gives 25.09% / 11.73%).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/pruning_plan.h"
#include "prune/flops_model.h"
#include "prune/head_mask.h"

namespace yopo {

struct LlamaConfig;

struct PresetKnobs {
  std::string name;         // "yopo-25"
  double target = 0;        // share of the dense visual FLOPs aimed at (0.25)
  int64_t window = 5;       // w: visual window side (radius (w-1)/2)
  double ffn_ratio = 2;     // r: visual FFN width floor(m / r)
  int64_t layer_keep = 0;   // L_keep: layers >= L_keep do no visual work
  int64_t full_layers = 2;  // layers 0 .. full_layers-1 keep every head (no mask)
  int64_t heads_keep = 0;   // K: heads kept in the other layers; -1 when a mask gives them
  std::string derivation;   // how the values were obtained (for tables)
  double fraction = 0;      // paper-convention share reached (576 tokens, 24x24, 35 before)
};

const std::vector<std::string>& preset_names();  // yopo-25, yopo-12
bool is_preset_name(const std::string& name);

// The knobs of a preset for a model shape; mask (may be null) must be [layers][heads].
PresetKnobs preset_knobs(const std::string& name, const ModelShape& shape,
                         const HeadMask* mask = nullptr);
// Every preset for a shape (for tables).
std::vector<PresetKnobs> preset_table(const ModelShape& shape, const HeadMask* mask = nullptr);

// The plan of given knobs (mask required when knobs.heads_keep < 0); named knobs.name.
PruningPlan plan_from_preset_knobs(const PresetKnobs& knobs, const ModelShape& shape,
                                   const HeadMask* mask, PruneSemantics semantics);
PruningPlan make_preset(const std::string& name, const ModelShape& shape, PruneSemantics semantics,
                        const HeadMask* mask = nullptr);
PruningPlan make_preset(const std::string& name, const LlamaConfig& cfg, PruneSemantics semantics,
                        const HeadMask* mask = nullptr);

}  // namespace yopo
