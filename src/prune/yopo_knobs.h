// Pruning plans from a YOPO checkpoint's config.json knobs (shared/docs/yopo-method.md):
//   attncut_w    = w      -> visual-visual attention in a square window of radius (w-1)/2
//   layercut_num = L_keep -> layers >= L_keep do no visual work (visual_active = false)
//   headcut_num           -> names the reference's mask file headmask_{7b|13b}_{headcut_num}.npy;
//                            the mask itself is given by the caller (kept heads of layers <
//                            L_keep; the released masks keep every head of layers 0 and 1)
//   mlpcut_ratio = r      -> visual FFN width floor(ffn_dim / r)
//   sprompt_len           -> informational only (the engine knows where each image lies)
// The knobs are read at the top level of config.json, or in "text_config" when absent there.
// A knob that is absent or null leaves its technique off.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "models/pruning_plan.h"

namespace yopo {

struct LlamaConfig;

struct YopoKnobs {
  std::optional<int64_t> attncut_w;
  std::optional<int64_t> layercut_num;
  std::optional<int64_t> headcut_num;
  std::optional<double> mlpcut_ratio;
  std::optional<int64_t> sprompt_len;
  bool any() const {
    return attncut_w || layercut_num || headcut_num || mlpcut_ratio || sprompt_len;
  }
};

// True when the object (or its "text_config") holds at least one of the knobs above.
bool has_yopo_knobs(const nlohmann::json& cfg);
// Reads and checks the knobs (w odd >= 1, L_keep >= 0, headcut_num >= 0, r >= 1,
// sprompt_len >= 0); throws yopo::Error naming the knob otherwise.
YopoKnobs read_yopo_knobs(const nlohmann::json& cfg);

// The reference's mask file name for a model: "headmask_7b_16" for 32 layers and headcut_num 16,
// "headmask_13b_…" for 40 layers; "" for other layer counts.
std::string reference_head_mask_name(const LlamaConfig& cfg, int64_t headcut_num);

// head_mask may be empty (every head kept in layers < L_keep); otherwise it must be
// [n_layers][n_heads]. The plan is named "yopo-config".
PruningPlan plan_from_yopo_config(const nlohmann::json& cfg,
                                  const std::vector<std::vector<uint8_t>>& head_mask,
                                  const LlamaConfig& model, PruneSemantics semantics);
PruningPlan plan_from_yopo_knobs(const YopoKnobs& knobs,
                                 const std::vector<std::vector<uint8_t>>& head_mask,
                                 const LlamaConfig& model, PruneSemantics semantics);

}  // namespace yopo
