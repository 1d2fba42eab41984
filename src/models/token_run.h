// The state of token pruning during one decoder call (internal to the LLaMA decoder).
#pragma once

#include <cstdint>
#include <vector>

#include "models/token_pruning.h"

namespace yopo {

struct TokenRun {
  const TokenPruning* tp = nullptr;
  bool ranking = false;  // the call holds visual rows: stages act (the prefill)
  int64_t n_visual = 0;  // visual rows of the call
  TokenSchedule schedule;
  std::vector<int64_t> raters;  // SparseVLM: batch rows of the text raters
  TokenPruneTrace* trace = nullptr;

  bool active() const { return tp != nullptr; }
  // Index of the stage acting before layer l, or -1.
  int64_t stage_at(int64_t l) const {
    for (size_t s = 0; s < tp->stages.size(); ++s)
      if (tp->stages[s].layer == l) return int64_t(s);
    return -1;
  }
};

}  // namespace yopo
