// Small SVG helpers and a line-chart writer (no plotting library): linear axes with "nice" ticks
// (steps of 1, 2 or 5 times a power of ten), grid lines, one polyline with point markers per series
// and a legend on the right. Several charts can be stacked in one document.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace yopo::svg {

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in the given order
  bool dashed = false;
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool y_from_zero = true;  // include 0 in the y range
  // Geometry of one chart, in SVG user units.
  double width = 640, height = 360;
  double margin_left = 72, margin_right = 170, margin_top = 36, margin_bottom = 48;
};

// Ticks covering [lo, hi] with about `target` intervals: a step of 1, 2 or 5 x 10^k (the
// nice-number rule), the first tick at or below lo and the last at or above hi. lo == hi gives
// the ticks of [lo - 1, hi + 1]. Throws unless lo <= hi, both finite, and target >= 1.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// Maps v from [lo, hi] to [p0, p1] linearly.
double map_linear(double v, double lo, double hi, double p0, double p1);

// A coordinate as SVG text: one decimal ("%.1f").
std::string num(double v);

// A tick's label with as many decimals as the tick step needs (at most 6); values within
// step * 1e-9 of zero print as 0.
std::string tick_label(double v, double step);

// &, <, >, " and ' as XML entities.
std::string xml_escape(const std::string& s);

// One SVG document with the charts stacked top to bottom. Throws when a chart has no point.
std::string render_svg(const std::vector<LineChart>& charts);

}  // namespace yopo::svg
