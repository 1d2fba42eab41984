// The JSON form of a PruningPlan (documented for users in docs/pruning-plans.md).
//
// Full form: one object per decoder layer.
//   {"name": "my-plan", "semantics": "exact" | "fast",
//    "layers": [{"visual": true, "heads": [0, 1, 5] | "all" | "none",
//                "ffn_width": 5504 | null, "window_radius": 2 | null}, ...]}
//
// Compact form (for files written by hand): defaults for every layer, then a head mask, a layer
// cut and per-layer overrides, applied in that order.
//   {"name": "...", "semantics": "...", "n_layers": 32,
//    "defaults": {"window_radius": 2, "ffn_ratio": 2},
//    "head_mask": [[1, 0, ...], ...] | "headmask_7b_16.json",
//    "layer_cut": 16,
//    "overrides": {"0-1": {"heads": "all"}, "5": {"ffn_width": null}}}
// A layer object (full form, "defaults", "overrides" values) takes the keys visual, heads,
// ffn_width, window_radius; "defaults" and "overrides" also take ffn_ratio (r: width =
// floor(ffn_dim / r)), window (w: odd, radius (w-1)/2) and heads {"first": K}.
// Every key is optional; a missing key leaves the layer dense in that respect (an object with
// neither "layers" nor a compact key is the dense plan). Unknown keys are errors that list the
// allowed ones.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "models/pruning_plan.h"

namespace yopo {

struct LlamaConfig;

// The model sizes a plan is checked against.
struct PlanShape {
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t ffn_dim = 0;
};
PlanShape plan_shape_of(const LlamaConfig& cfg);

// origin names the source in errors (e.g. "plan file 'x.json'"); base_dir resolves a head-mask
// file named by a compact plan ("" = the current directory). Throws yopo::Error naming the
// layer and the field on any problem. The result is normalized and validated.
PruningPlan plan_from_json(const nlohmann::json& j, const PlanShape& shape,
                           const std::string& origin = "pruning plan",
                           const std::string& base_dir = "");
PruningPlan read_plan_file(const std::string& path, const PlanShape& shape);

// Full form (every layer written out; "heads" is "all" for an empty keep list).
nlohmann::json plan_to_json(const PruningPlan& plan);
// Compact form: the most common FFN width and window as defaults, a trailing run of inactive
// layers as layer_cut, a head_mask matrix when any layer prunes heads, overrides for the rest.
// A dense plan with no layers gives {"name", "semantics"} only.
nlohmann::json plan_to_compact_json(const PruningPlan& plan);
void write_plan_file(const std::string& path, const PruningPlan& plan, bool compact = false);

// PruningPlan::validate plus: head keep values are 0/1. Errors name the plan and the layer.
void validate_plan(const PruningPlan& plan, const PlanShape& shape);
// Canonical form: a keep list that keeps every head becomes empty (same meaning); an FFN width
// equal to the whole FFN becomes -1 when ffn_dim > 0 is given.
void normalize_plan(PruningPlan& plan, int64_t ffn_dim = 0);
// Same name, semantics and per-layer fields (compare normalized plans).
bool same_plan(const PruningPlan& a, const PruningPlan& b);

}  // namespace yopo
