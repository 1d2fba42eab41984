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
  std::vector<float> x;                 // [n, dim] hidden states
  std::vector<int32_t> pos;             // RoPE positions
  std::vector<int64_t> batch_index;     // row -> row of the call's batch
  std::vector<uint8_t> visual;          // 1: a visual row
  std::vector<VisualSegment> segments;  // visual segments in row coordinates
  // Rows whose queries (after RoPE) the next dense layer copies into captured_q [rows, q dim]
  // (token-pruning baselines rank with them).
  std::vector<int64_t> capture_rows;
  std::vector<float> captured_q;

  bool has_visual() const { return !segments.empty(); }
  // Index of the segment holding row i (which must be visual).
  const VisualSegment& segment_of(int64_t i) const {
    for (const VisualSegment& s : segments)
      if (i >= s.start && i < s.end()) return s;
    return segments.front();
  }
  // Keeps only the visual rows `keep` (row indices, ascending) of the single image segment and
  // inserts n_merged new visual rows (merged [n_merged, dim], batch index -1) right after them.
  void select_visual(const std::vector<int64_t>& keep, const float* merged, int64_t n_merged) {
    const VisualSegment seg = segments.front();
    std::vector<int64_t> order;
    for (int64_t i = 0; i < seg.start; ++i) order.push_back(i);
    order.insert(order.end(), keep.begin(), keep.end());
    const int64_t merged_at = int64_t(order.size());
    for (int64_t k = 0; k < n_merged; ++k) order.push_back(-1);
    for (int64_t i = seg.end(); i < n; ++i) order.push_back(i);
    const int64_t m = int64_t(order.size());
    std::vector<float> nx(size_t(m * dim));
    std::vector<int32_t> npos(size_t(m), 0);
    std::vector<int64_t> nbi(size_t(m), -1);
    std::vector<uint8_t> nvis(size_t(m), 0);
    for (int64_t w = 0; w < m; ++w) {
      const int64_t i = order[size_t(w)];
      if (i < 0) {
        std::copy_n(merged + (w - merged_at) * dim, dim, &nx[size_t(w * dim)]);
        nvis[size_t(w)] = 1;
        continue;
      }
      std::copy_n(&x[size_t(i * dim)], dim, &nx[size_t(w * dim)]);
      npos[size_t(w)] = pos[size_t(i)];
      nbi[size_t(w)] = batch_index[size_t(i)];
      nvis[size_t(w)] = visual[size_t(i)];
    }
    n = m;
    x.swap(nx);
    pos.swap(npos);
    batch_index.swap(nbi);
    visual.swap(nvis);
    const int64_t nv = int64_t(keep.size()) + n_merged;
    segments.clear();
    if (nv > 0) segments.push_back({seg.start, 1, nv});
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
