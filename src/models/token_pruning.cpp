#include "models/token_pruning.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace yopo {

const char* token_method_name(TokenMethod m) {
  switch (m) {
    case TokenMethod::FastV:
      return "fastv";
    case TokenMethod::PDrop:
      return "pdrop";
    case TokenMethod::SparseVLM:
      return "sparsevlm";
    default:
      return "none";
  }
}

int64_t round_half_even(double x) {
  const double f = std::floor(x), diff = x - f;
  if (diff > 0.5) return int64_t(f) + 1;
  if (diff < 0.5) return int64_t(f);
  return int64_t(f) % 2 == 0 ? int64_t(f) : int64_t(f) + 1;
}

void TokenPruning::validate(int64_t n_layers) const {
  if (!active()) return;
  const char* name = token_method_name(method);
  int64_t prev = -1;
  for (size_t s = 0; s < stages.size(); ++s) {
    const TokenStage& st = stages[s];
    const int64_t lo = ranks_with_previous_layer() ? 1 : 0;
    check(st.layer >= lo && st.layer < n_layers, name, ": stage ", s + 1, " acts before layer ",
          st.layer, ", outside ", lo, "..", n_layers - 1, " for this ", n_layers, "-layer model",
          method == TokenMethod::SparseVLM ? " (a SparseVLM stage after layer s acts before s+1)"
                                           : "");
    check(st.layer > prev, name, ": stage layers must increase");
    prev = st.layer;
    if (method == TokenMethod::SparseVLM) {
      check(st.keep >= 1, name, ": stage ", s + 1, " keeps ", st.keep,
            " visual tokens; it must keep at least 1");
    } else {
      check(st.ratio >= 0 && st.ratio <= 1, name, ": stage ", s + 1, " keeps a share of ", st.ratio,
            " of the visual tokens; it must lie in [0, 1]");
    }
  }
  check(method != TokenMethod::FastV || stages.size() == 1, "fastv prunes at one layer only");
  check(recycle_share >= 0 && recycle_share <= 1, name, ": recycling share must be in [0, 1]");
}

TokenSchedule token_schedule(const TokenPruning& tp, int64_t n_visual, int64_t n_layers) {
  TokenSchedule s;
  s.visual_rows.assign(size_t(n_layers), n_visual);
  if (!tp.active()) return s;
  tp.validate(n_layers);
  const char* name = token_method_name(tp.method);
  int64_t v = n_visual;
  for (size_t i = 0; i < tp.stages.size(); ++i) {
    const TokenStage& st = tp.stages[i];
    int64_t kept = 0, recycled = 0, merged = 0;
    if (tp.method == TokenMethod::FastV) {
      kept = round_half_even(double(v) * st.ratio);
    } else if (tp.method == TokenMethod::PDrop) {
      kept = int64_t(std::floor(double(n_visual) * st.ratio));
      check(kept <= v, name, ": stage ", i + 1, " (layer ", st.layer, ") would keep ", kept,
            " visual tokens but only ", v, " remain (ratios are cumulative shares of the ",
            n_visual, " prompt tokens and must not grow)");
    } else {
      check(st.keep <= v, name, ": stage ", i + 1, " (before layer ", st.layer, ") keeps ", st.keep,
            " visual tokens but only ", v, " are left");
      kept = std::min(st.keep, v - 1);  // the authors' min(keep, v - 1)
      const int64_t deleted = v - kept;
      if (deleted > 0 && v > 0) {
        recycled = int64_t(double(deleted) * tp.recycle_share) + 1;
        recycled = std::min(recycled, deleted);
        merged = recycled / 10 + 1;
      }
    }
    kept = std::max<int64_t>(kept, 0);
    s.kept.push_back(kept);
    s.recycled.push_back(recycled);
    s.merged.push_back(merged);
    v = kept + merged;
    for (int64_t l = st.layer; l < n_layers; ++l) s.visual_rows[size_t(l)] = v;
  }
  return s;
}

}  // namespace yopo
