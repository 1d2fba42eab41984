#include "runtime/calibration_plot.h"

#include "core/error.h"
#include "core/svg_plot.h"

namespace yopo {

std::string profile_svg(const std::vector<LayerProfile>& profile, const std::string& title) {
  check(!profile.empty(), "the calibration profile has no layers to plot");
  svg::LineChart share;
  share.title = title.empty() ? "Visual attention share per layer" : title;
  share.x_label = "layer";
  share.y_label = "attention mass on visual keys";
  svg::Series s{"visual share", {}, false};
  for (const LayerProfile& p : profile) s.points.emplace_back(double(p.layer), p.visual_share);
  share.series.push_back(std::move(s));

  svg::LineChart kept;
  kept.title = "Heads kept per layer (calibrated mask)";
  kept.x_label = "layer";
  kept.y_label = "kept heads";
  svg::Series k{"kept heads", {}, true};
  for (const LayerProfile& p : profile)
    k.points.emplace_back(double(p.layer), double(p.kept_heads));
  kept.series.push_back(std::move(k));
  return svg::render_svg({share, kept});
}

}  // namespace yopo
