// A naive reference of the token-pruning baselines (FastV, PyramidDrop, SparseVLM) on the tiny
// random LLaMA of support/random_llama.h, written from the methods' descriptions
// (models/token_pruning.h, shared/docs/yopo-method.md) with plain loops in double: the sequence
// is an explicit list of rows that stages rebuild (top-k by sorting, rows removed, cluster means
// inserted, positions renumbered), every layer runs full causal attention over the list and
// keeps its head-averaged attention map for the next boundary. No KV cache: a decoded token is
// one more text row at the end of the list, and rankings only ever look at prompt rows.
#pragma once

#include <cstdint>
#include <vector>

#include "models/token_layout.h"
#include "models/token_pruning.h"
#include "support/random_llama.h"

namespace yopo::test {

struct TokenReferenceRun {
  std::vector<double> logits;              // of the last row of the list [vocab]
  std::vector<int64_t> raters;             // SparseVLM raters (prompt row indices)
  std::vector<std::vector<int64_t>> kept;  // per stage: kept ranked rows (prompt indices)
  std::vector<int64_t> visual_rows;        // per layer: visual rows in the list
};

// emb: [n, dim] rows; the first n_prompt are the prompt (holding `image`), the rest decoded
// tokens.
TokenReferenceRun token_reference(const RandomLlama& m, const float* emb, int64_t n,
                                  int64_t n_prompt, const VisualSegment& image,
                                  const TokenPruning& tp);

}  // namespace yopo::test
