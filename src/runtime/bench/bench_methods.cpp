#include "runtime/bench/bench_methods.h"

#include <algorithm>

#include "core/error.h"
#include "prune/budget_match.h"
#include "prune/flops_model.h"
#include "prune/plan_spec.h"

namespace yopo::bench {

const std::vector<std::string>& default_method_names() {
  static const std::vector<std::string> names = {"dense", "yopo-25", "yopo-12",
                                                 "fastv", "pdrop",   "sparsevlm"};
  return names;
}

bool is_token_pruning_baseline(const std::string& name) {
  const std::string base = name.substr(0, name.find('@'));
  return base == "fastv" || base == "pdrop" || base == "pyramiddrop" || base == "sparsevlm";
}

std::vector<MethodSpec> expand_methods(const std::vector<std::string>& names,
                                       const std::vector<PruneSemantics>& semantics) {
  check(!names.empty(), "no methods to benchmark");
  check(!semantics.empty(), "no semantics to benchmark");
  std::vector<MethodSpec> out;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& n = names[i];
    check(!n.empty(), "empty method name in the method list");
    check(std::find(names.begin(), names.begin() + long(i), n) == names.begin() + long(i),
          "method '", n, "' is listed twice");
    MethodSpec m;
    m.name = n;
    if (n == "dense") {
      m.has_semantics = false;
      out.push_back(m);
      continue;
    }
    if (is_token_pruning_baseline(n)) {
      m.has_semantics = false;
      m.baseline = true;
      if (n.find('@') != std::string::npos) {
        const std::string b = n.substr(n.find('@') + 1);
        check(b == "25" || b == "12", "method '", n, "': the budget after @ must be 25 or 12");
        m.budget = b == "25" ? 0.25 : 0.12;
        out.push_back(m);
      } else {  // both budgets of YOPO's presets
        for (const char* b : {"@25", "@12"}) {
          m.name = n + b;
          m.budget = b[1] == '2' && b[2] == '5' ? 0.25 : 0.12;
          out.push_back(m);
        }
      }
      continue;
    }
    for (PruneSemantics s : semantics) {
      m.semantics = s;
      out.push_back(m);
    }
  }
  return out;
}

ResolvedMethod resolve_method(const MethodSpec& m, const LlamaConfig& full_cfg,
                              const std::string& head_mask_path) {
  ResolvedMethod r;
  r.spec = m;
  if (m.name == "dense") {
    r.available = true;
    r.plan.name = "dense";
    return r;
  }
  if (m.baseline) {
    std::string base = m.name.substr(0, m.name.find('@'));
    if (base == "pyramiddrop") base = "pdrop";
    for (const BudgetMatch& b : match_budget(shape_of(full_cfg), m.budget))
      if (b.method == base) {
        r.plan = resolve_plan_spec(b.spec, full_cfg, PruneSemantics::Fast);
        r.note = b.spec;
      }
    r.available = true;
    return r;
  }
  r.plan = resolve_plan_spec(m.name, full_cfg, m.semantics, head_mask_path);
  r.plan.semantics = m.semantics;
  r.available = true;
  return r;
}

}  // namespace yopo::bench
