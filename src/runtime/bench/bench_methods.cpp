#include "runtime/bench/bench_methods.h"

#include <algorithm>

#include "core/error.h"
#include "prune/plan_spec.h"

namespace yopo::bench {

const std::vector<std::string>& default_method_names() {
  static const std::vector<std::string> names = {"dense", "yopo-25", "yopo-12",
                                                 "fastv", "pdrop",   "sparsevlm"};
  return names;
}

bool is_token_pruning_baseline(const std::string& name) {
  return name == "fastv" || name == "pdrop" || name == "pyramiddrop" || name == "sparsevlm";
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
    if (n == "dense" || is_token_pruning_baseline(n)) {
      m.has_semantics = false;
      m.baseline = n != "dense";
      out.push_back(m);
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
    try {
      r.plan = resolve_plan_spec(m.name, full_cfg, PruneSemantics::Fast);
      r.available = true;
    } catch (const Error&) {
      r.note = "not implemented (token-pruning baseline; the plan layer does not know '" + m.name +
               "' yet)";
    }
    return r;
  }
  r.plan = resolve_plan_spec(m.name, full_cfg, m.semantics, head_mask_path);
  r.plan.semantics = m.semantics;
  r.available = true;
  return r;
}

}  // namespace yopo::bench
