// The per-layer cross-modal attention profile of a calibration run as an SVG figure: the share of
// attention mass on visual keys per layer (where it fades suggests L_keep) above the heads the
// calibrated mask keeps per layer.
#pragma once

#include <string>
#include <vector>

#include "prune/calibration.h"

namespace yopo {

// Throws yopo::Error when the profile is empty.
std::string profile_svg(const std::vector<LayerProfile>& profile, const std::string& title);

}  // namespace yopo
