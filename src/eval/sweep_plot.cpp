#include "eval/sweep_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/svg_plot.h"

namespace yopo::eval {

using svg::nice_ticks;
using svg::num;
using svg::tick_label;
using svg::xml_escape;

std::string scatter_svg(const ScatterPlot& plot) {
  const double W = 640, H = 420, left = 70, right = 30, top = 40, bottom = 60;
  const double pw = W - left - right, ph = H - top - bottom;
  std::vector<PlotPoint> pts;
  for (const PlotPoint& p : plot.points)
    if (std::isfinite(p.x) && std::isfinite(p.y)) pts.push_back(p);

  double x_lo = plot.x_from_zero ? 0 : 1e300, x_hi = plot.x_from_zero ? 0 : -1e300;
  double y_lo = 1e300, y_hi = -1e300;
  for (const PlotPoint& p : pts) {
    x_lo = std::min(x_lo, p.x);
    x_hi = std::max(x_hi, p.x);
    y_lo = std::min(y_lo, p.y);
    y_hi = std::max(y_hi, p.y);
  }
  if (pts.empty()) x_lo = x_hi = y_lo = y_hi = 0;
  const std::vector<double> xt = nice_ticks(x_lo, x_hi), yt = nice_ticks(y_lo, y_hi);
  const double x0 = xt.front(), x1 = xt.back(), y0 = yt.front(), y1 = yt.back();
  auto sx = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto sy = [&](double y) { return top + ph - (y - y0) / (y1 - y0) * ph; };
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;

  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" viewBox=\"0 0 " << W << ' ' << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s << "<text x=\"" << num(W / 2) << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">"
    << xml_escape(plot.title) << "</text>\n";
  // Grid and ticks.
  for (const double t : xt) {
    s << "<line x1=\"" << num(sx(t)) << "\" y1=\"" << num(top) << "\" x2=\"" << num(sx(t))
      << "\" y2=\"" << num(top + ph) << "\" stroke=\"#e4e4e4\"/>\n";
    s << "<text x=\"" << num(sx(t)) << "\" y=\"" << num(top + ph + 18)
      << "\" text-anchor=\"middle\">" << tick_label(t, xstep) << "</text>\n";
  }
  for (const double t : yt) {
    s << "<line x1=\"" << num(left) << "\" y1=\"" << num(sy(t)) << "\" x2=\"" << num(left + pw)
      << "\" y2=\"" << num(sy(t)) << "\" stroke=\"#e4e4e4\"/>\n";
    s << "<text x=\"" << num(left - 8) << "\" y=\"" << num(sy(t) + 4) << "\" text-anchor=\"end\">"
      << tick_label(t, ystep) << "</text>\n";
  }
  s << "<rect x=\"" << num(left) << "\" y=\"" << num(top) << "\" width=\"" << num(pw)
    << "\" height=\"" << num(ph) << "\" fill=\"none\" stroke=\"#333\"/>\n";
  s << "<text x=\"" << num(left + pw / 2) << "\" y=\"" << num(H - 16)
    << "\" text-anchor=\"middle\">" << xml_escape(plot.x_label) << "</text>\n";
  s << "<text transform=\"translate(18," << num(top + ph / 2)
    << ") rotate(-90)\" text-anchor=\"middle\">" << xml_escape(plot.y_label) << "</text>\n";
  // Points; each label goes on the side with more room, at the first of a few heights where it
  // does not overlap a label already placed (labels are estimated at 7 px per character).
  struct Box {
    double x0, y0, x1, y1;
  };
  std::vector<Box> placed;
  for (const PlotPoint& p : pts) {
    const double px = sx(p.x), py = sy(p.y);
    const bool label_left = px > left + pw * 0.75;
    const double w = 7.0 * double(p.label.size()), h = 14;
    const double tx = px + (label_left ? -8 : 8);
    const double bx0 = label_left ? tx - w : tx, bx1 = label_left ? tx : tx + w;
    double ty = py - 6;
    for (const double dy : {0.0, 20.0, -14.0, 34.0, -28.0, 48.0, -42.0, 62.0}) {
      ty = py - 6 + dy;
      const Box b{bx0, ty - h + 3, bx1, ty + 3};
      bool clash = false;
      for (const Box& o : placed)
        clash = clash || (b.x0 < o.x1 && o.x0 < b.x1 && b.y0 < o.y1 && o.y0 < b.y1);
      if (!clash) break;
    }
    placed.push_back({bx0, ty - h + 3, bx1, ty + 3});
    s << "<circle cx=\"" << num(px) << "\" cy=\"" << num(py)
      << "\" r=\"4.5\" fill=\"#1f77b4\" stroke=\"#0b3c5d\"/>\n";
    s << "<text x=\"" << num(tx) << "\" y=\"" << num(ty) << "\" text-anchor=\""
      << (label_left ? "end" : "start") << "\">" << xml_escape(p.label) << "</text>\n";
  }
  if (pts.empty())
    s << "<text x=\"" << num(left + pw / 2) << "\" y=\"" << num(top + ph / 2)
      << "\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n";
  s << "</svg>\n";
  return s.str();
}

}  // namespace yopo::eval
