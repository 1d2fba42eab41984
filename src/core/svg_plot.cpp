#include "core/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.h"

namespace yopo::svg {

namespace {

const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

void chart(std::string& out, const LineChart& c, double y_offset) {
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  for (const Series& s : c.series)
    for (const auto& [x, y] : s.points) {
      check(std::isfinite(x) && std::isfinite(y), "chart '", c.title, "': series '", s.name,
            "' has a non-finite point");
      xlo = std::min(xlo, x);
      xhi = std::max(xhi, x);
      ylo = std::min(ylo, y);
      yhi = std::max(yhi, y);
    }
  check(std::isfinite(xlo), "chart '", c.title, "' has no points");
  if (c.y_from_zero) {
    ylo = std::min(ylo, 0.0);
    yhi = std::max(yhi, 0.0);
  }
  const std::vector<double> xt = nice_ticks(xlo, xhi), yt = nice_ticks(ylo, yhi);
  const double x0 = xt.front(), x1 = xt.back(), y0 = yt.front(), y1 = yt.back();
  const double L = c.margin_left, T = y_offset + c.margin_top, R = c.width - c.margin_right,
               B = y_offset + c.height - c.margin_bottom;
  auto px = [&](double x) { return map_linear(x, x0, x1, L, R); };
  auto py = [&](double y) { return map_linear(y, y0, y1, B, T); };

  out += "<text x=\"" + num((L + R) / 2) + "\" y=\"" + num(y_offset + 22) +
         "\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">" + xml_escape(c.title) +
         "</text>\n";
  for (double t : yt) {
    out += "<line x1=\"" + num(L) + "\" y1=\"" + num(py(t)) + "\" x2=\"" + num(R) + "\" y2=\"" +
           num(py(t)) + "\" stroke=\"#ddd\"/>\n";
    out += "<text x=\"" + num(L - 6) + "\" y=\"" + num(py(t) + 4) +
           "\" text-anchor=\"end\" font-size=\"11\">" + tick_label(t, yt[1] - yt[0]) + "</text>\n";
  }
  for (double t : xt) {
    out += "<line x1=\"" + num(px(t)) + "\" y1=\"" + num(T) + "\" x2=\"" + num(px(t)) + "\" y2=\"" +
           num(B) + "\" stroke=\"#eee\"/>\n";
    out += "<text x=\"" + num(px(t)) + "\" y=\"" + num(B + 16) +
           "\" text-anchor=\"middle\" font-size=\"11\">" + tick_label(t, xt[1] - xt[0]) +
           "</text>\n";
  }
  out += "<rect x=\"" + num(L) + "\" y=\"" + num(T) + "\" width=\"" + num(R - L) + "\" height=\"" +
         num(B - T) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  out += "<text x=\"" + num((L + R) / 2) + "\" y=\"" + num(B + 36) +
         "\" text-anchor=\"middle\" font-size=\"12\">" + xml_escape(c.x_label) + "</text>\n";
  out += "<text transform=\"translate(" + num(L - 52) + "," + num((T + B) / 2) +
         ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">" + xml_escape(c.y_label) +
         "</text>\n";
  for (size_t i = 0; i < c.series.size(); ++i) {
    const Series& s = c.series[i];
    const std::string color = kColors[i % (sizeof kColors / sizeof kColors[0])];
    std::string pts;
    for (const auto& [x, y] : s.points) {
      if (!pts.empty()) pts += ' ';
      pts += num(px(x));
      pts += ',';
      pts += num(py(y));
    }
    out += "<polyline points=\"" + pts + "\" fill=\"none\" stroke=\"" + color +
           "\" stroke-width=\"2\"" + (s.dashed ? " stroke-dasharray=\"6,4\"" : "") + "/>\n";
    for (const auto& [x, y] : s.points)
      out += "<circle cx=\"" + num(px(x)) + "\" cy=\"" + num(py(y)) + "\" r=\"3\" fill=\"" + color +
             "\"/>\n";
    const double ly = T + 8 + 18 * double(i);
    out += "<line x1=\"" + num(R + 12) + "\" y1=\"" + num(ly) + "\" x2=\"" + num(R + 36) +
           "\" y2=\"" + num(ly) + "\" stroke=\"" + color + "\" stroke-width=\"2\"" +
           (s.dashed ? " stroke-dasharray=\"6,4\"" : "") + "/>\n";
    out += "<text x=\"" + num(R + 42) + "\" y=\"" + num(ly + 4) + "\" font-size=\"11\">" +
           xml_escape(s.name) + "</text>\n";
  }
}

}  // namespace

std::string num(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// Tick label text: as many decimals as the step needs.
std::string tick_label(double v, double step) {
  int decimals = 0;
  if (step < 1) decimals = std::min(6, int(std::ceil(-std::log10(step) - 1e-9)));
  if (std::abs(v) < step * 1e-9) v = 0;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  check(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, "axis range [", lo, ", ", hi,
        "] is not valid");
  check(target >= 1, "an axis needs at least one tick interval");
  if (lo == hi) {
    lo -= 1;
    hi += 1;
  }
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag;
  const double step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  std::vector<double> t;
  for (double k = first; k <= last + 0.5; k += 1) t.push_back(k * step);
  return t;
}

double map_linear(double v, double lo, double hi, double p0, double p1) {
  return hi == lo ? p0 : p0 + (v - lo) / (hi - lo) * (p1 - p0);
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

std::string render_svg(const std::vector<LineChart>& charts) {
  check(!charts.empty(), "no charts to draw");
  double w = 0, h = 0;
  for (const LineChart& c : charts) {
    w = std::max(w, c.width);
    h += c.height;
  }
  std::string out =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
      num(w) + "\" height=\"" + num(h) + "\" viewBox=\"0 0 " + num(w) + " " + num(h) +
      "\" font-family=\"sans-serif\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  double y = 0;
  for (const LineChart& c : charts) {
    chart(out, c, y);
    y += c.height;
  }
  return out + "</svg>\n";
}

}  // namespace yopo::svg
