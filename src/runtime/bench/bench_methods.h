// The methods a benchmark compares, each a plan specification (prune/plan_spec.h) run in one or
// both semantics:
//   dense                 no pruning (one row)
//   yopo-25, yopo-12, ... any plan spec resolve_plan_spec accepts: one row per semantics
//   fastv, pdrop, sparsevlm
//                         the token-pruning baselines, one row per budget (@25 and @12: the
//                         settings prune/budget_match.h finds for 25% and 12% of the dense
//                         visual FLOPs, YOPO's two presets; "fastv@25" names one of them)
#pragma once

#include <string>
#include <vector>

#include "models/llama_config.h"
#include "models/pruning_plan.h"

namespace yopo::bench {

struct MethodSpec {
  std::string name;           // as given: "yopo-25"
  bool has_semantics = true;  // false: dense and the token-pruning baselines
  PruneSemantics semantics = PruneSemantics::Exact;
  bool baseline = false;  // a token-pruning baseline
  double budget = 0.25;   // its visual-FLOPs budget
  std::string semantics_label() const { return has_semantics ? semantics_name(semantics) : "n/a"; }
};

const std::vector<std::string>& default_method_names();   // dense, yopo-25, yopo-12, fastv, pdrop,
                                                          // sparsevlm
bool is_token_pruning_baseline(const std::string& name);  // fastv, pdrop (pyramiddrop), sparsevlm

// One MethodSpec per (name, semantics) as described above, in the order given. Throws on an
// empty list, an empty name or a duplicate.
std::vector<MethodSpec> expand_methods(const std::vector<std::string>& names,
                                       const std::vector<PruneSemantics>& semantics);

struct ResolvedMethod {
  MethodSpec spec;
  bool available = false;
  std::string note;  // why not, when unavailable
  PruningPlan plan;  // full depth (cfg's layers); empty for dense
};

// Resolves a method for the full-depth model. A plan spec that fails throws (a user error),
// except for a baseline, which is then reported as not implemented.
ResolvedMethod resolve_method(const MethodSpec& m, const LlamaConfig& full_cfg,
                              const std::string& head_mask_path);

}  // namespace yopo::bench
