// Where the visual tokens of a sequence lie: the decoder knows which rows are visual and their
// 2-D grid positions, so that pruning plans can address them.
#pragma once

#include <cstdint>
#include <vector>

namespace yopo {

// One image's tokens: sequence indices [start, start + grid_rows * grid_cols), row-major.
struct VisualSegment {
  int64_t start = 0;
  int64_t grid_rows = 0;
  int64_t grid_cols = 0;
  int64_t size() const { return grid_rows * grid_cols; }
  int64_t end() const { return start + size(); }
};

struct TokenLayout {
  std::vector<VisualSegment> images;  // in sequence order, non-overlapping

  bool is_visual(int64_t index) const {
    for (const VisualSegment& s : images)
      if (index >= s.start && index < s.end()) return true;
    return false;
  }
  int64_t visual_count() const {
    int64_t n = 0;
    for (const VisualSegment& s : images) n += s.size();
    return n;
  }
};

}  // namespace yopo
