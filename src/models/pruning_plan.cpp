#include "models/pruning_plan.h"

#include "core/error.h"

namespace yopo {

const char* semantics_name(PruneSemantics s) {
  return s == PruneSemantics::Fast ? "fast" : "exact";
}

PruneSemantics parse_semantics(const std::string& s) {
  if (s == "exact") return PruneSemantics::Exact;
  if (s == "fast") return PruneSemantics::Fast;
  fail("pruning semantics '", s, "' is neither exact nor fast");
}

void PruningPlan::validate(int64_t n_layers, int64_t n_heads, int64_t ffn_dim) const {
  tokens.validate(n_layers);
  if (layers.empty()) return;
  check(!tokens.active(), "pruning plan '", name, "' combines ", token_method_name(tokens.method),
        " token pruning with YOPO layer plans; yopo runs them one at a time");
  check(int64_t(layers.size()) == n_layers, "pruning plan '", name, "' has ", layers.size(),
        " layers but the model has ", n_layers);
  for (size_t l = 0; l < layers.size(); ++l) {
    const LayerPlan& p = layers[l];
    check(p.head_keep.empty() || int64_t(p.head_keep.size()) == n_heads, "pruning plan '", name,
          "', layer ", l, ": head mask has ", p.head_keep.size(), " entries but the model has ",
          n_heads, " heads");
    check(p.ffn_width == -1 || (p.ffn_width >= 1 && p.ffn_width <= ffn_dim), "pruning plan '", name,
          "', layer ", l, ": visual FFN width ", p.ffn_width, " is outside 1..", ffn_dim);
    check(p.window_radius >= -1, "pruning plan '", name, "', layer ", l,
          ": window radius must be >= 0 (or -1 for none)");
  }
}

}  // namespace yopo
