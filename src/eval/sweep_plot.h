// A small hand-written SVG scatter plot: one labelled point per pruning plan (accuracy against
// executed visual FLOPs in `yopo eval --sweep`).
#pragma once

#include <string>
#include <vector>

namespace yopo::eval {

struct PlotPoint {
  std::string label;
  double x = 0, y = 0;
};

struct ScatterPlot {
  std::string title, x_label, y_label;
  std::vector<PlotPoint> points;
  bool x_from_zero = true;  // the x axis starts at 0 (FLOPs); otherwise at the data's minimum
};

// The plot as a standalone SVG document (640 x 420). Non-finite points are left out.
std::string scatter_svg(const ScatterPlot& plot);

}  // namespace yopo::eval
