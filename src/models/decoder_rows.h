// The rows of one decoder call that are still in the sequence at a given layer (internal to the
// LLaMA decoder: pruning may remove visual rows part-way through the layers).
#pragma once

#include <cstdint>
#include <vector>

#include "models/token_layout.h"

namespace yopo {

struct DecoderRows {
  int64_t n = 0;
  int64_t dim = 0;
  std::vector<float> x;                  // [n, dim] hidden states
  std::vector<int32_t> pos;              // RoPE positions
  std::vector<int64_t> batch_index;      // row -> row of the call's batch
  std::vector<uint8_t> visual;           // 1: a visual row
  std::vector<VisualSegment> segments;   // visual segments in row coordinates

  bool has_visual() const { return !segments.empty(); }
  // Index of the segment holding row i (which must be visual).
  const VisualSegment& segment_of(int64_t i) const {
    for (const VisualSegment& s : segments)
      if (i >= s.start && i < s.end()) return s;
    return segments.front();
  }
  // Drops every visual row (keeping the order of the rest); returns the rows dropped.
  std::vector<int64_t> drop_visual() {
    std::vector<int64_t> dropped;
    int64_t w = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (visual[size_t(i)]) {
        dropped.push_back(i);
        continue;
      }
      if (w != i) {
        std::copy_n(&x[size_t(i * dim)], dim, &x[size_t(w * dim)]);
        pos[size_t(w)] = pos[size_t(i)];
        batch_index[size_t(w)] = batch_index[size_t(i)];
        visual[size_t(w)] = 0;
      }
      ++w;
    }
    n = w;
    x.resize(size_t(n * dim));
    pos.resize(size_t(n));
    batch_index.resize(size_t(n));
    visual.resize(size_t(n));
    segments.clear();
    return dropped;
  }
};

}  // namespace yopo
