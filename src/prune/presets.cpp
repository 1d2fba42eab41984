#include "prune/presets.h"

#include <cmath>

#include "core/error.h"
#include "models/llama_config.h"
#include "prune/plan_json.h"

namespace yopo {

namespace {

struct PresetDef {
  const char* name;
  double target;
  double layer_share;  // L_keep / L without a mask
};

constexpr PresetDef kPresets[] = {{"yopo-25", 0.25, 0.5}, {"yopo-12", 0.12, 0.25}};
constexpr int64_t kWindow = 5;
constexpr double kFfnRatio = 2;
constexpr int64_t kFullLayers = 2;  // of the 32 layers of LLaVA-1.5-7B

const PresetDef& find_def(const std::string& name) {
  for (const PresetDef& d : kPresets)
    if (name == d.name) return d;
  std::string known;
  for (const PresetDef& d : kPresets) known += std::string(known.empty() ? "" : ", ") + d.name;
  fail("unknown preset '", name, "' (known: ", known, ")");
}

double fraction_of(const PresetKnobs& k, const ModelShape& shape, const HeadMask* mask) {
  const PruningPlan plan = plan_from_preset_knobs(k, shape, mask, PruneSemantics::Exact);
  return paper_visual_flops(shape, plan).fraction;
}

// L_keep from the layer share, K nearest the target by the paper model (ties: more heads).
PresetKnobs derive(const PresetDef& def, const ModelShape& shape) {
  PresetKnobs k;
  k.name = def.name;
  k.target = def.target;
  k.window = kWindow;
  k.ffn_ratio = kFfnRatio;
  k.full_layers = kFullLayers;
  k.layer_keep = std::lround(double(shape.n_layers) * def.layer_share);
  double best = -1;
  int64_t best_k = 0;
  for (int64_t heads = 0; heads <= shape.n_heads; ++heads) {
    k.heads_keep = heads;
    const double err = std::abs(fraction_of(k, shape, nullptr) - def.target);
    if (best < 0 || err <= best) {
      best = err;
      best_k = heads;
    }
  }
  k.heads_keep = best_k;
  k.derivation = "derived for " + shape.name;
  return k;
}

}  // namespace

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const PresetDef& d : kPresets) v.push_back(d.name);
    return v;
  }();
  return names;
}

bool is_preset_name(const std::string& name) {
  for (const PresetDef& d : kPresets)
    if (name == d.name) return true;
  return false;
}

PresetKnobs preset_knobs(const std::string& name, const ModelShape& shape, const HeadMask* mask) {
  const PresetDef& def = find_def(name);
  check(shape.n_layers > 0 && shape.n_heads > 0 && shape.d > 0 && shape.m > 0, "model shape '",
        shape.name, "' has a non-positive size");
  PresetKnobs k;
  if (mask != nullptr) {
    check_head_mask_shape(*mask, shape.n_layers, shape.n_heads, "head mask for preset " + name);
    k.name = def.name;
    k.target = def.target;
    k.heads_keep = -1;
    k.full_layers = 0;
    double best = -1;
    int64_t best_l = 1;
    for (int64_t l = 1; l <= shape.n_layers; ++l) {
      k.layer_keep = l;
      const double err = std::abs(fraction_of(k, shape, mask) - def.target);
      if (best < 0 || err < best) {
        best = err;
        best_l = l;
      }
    }
    k.layer_keep = best_l;
    k.derivation = "heads from the mask, L_keep nearest the target";
  } else if (is_llava15_7b(shape) || is_llava15_13b(shape)) {
    k = derive(def, shape);
  } else {
    // Scale the LLaVA-1.5-7B values to this shape.
    const ModelShape ref = llava15_7b();
    const PresetKnobs r = derive(def, ref);
    auto scale = [](int64_t v, int64_t from, int64_t to) {
      return std::lround(double(v) * double(to) / double(from));
    };
    k = r;
    k.layer_keep = std::max<int64_t>(1, scale(r.layer_keep, ref.n_layers, shape.n_layers));
    k.heads_keep = scale(r.heads_keep, ref.n_heads, shape.n_heads);
    k.full_layers = scale(r.full_layers, ref.n_layers, shape.n_layers);
    k.derivation = "scaled from " + ref.name;
  }
  k.fraction = fraction_of(k, shape, mask);
  return k;
}

std::vector<PresetKnobs> preset_table(const ModelShape& shape, const HeadMask* mask) {
  std::vector<PresetKnobs> out;
  for (const std::string& name : preset_names()) out.push_back(preset_knobs(name, shape, mask));
  return out;
}

PruningPlan plan_from_preset_knobs(const PresetKnobs& k, const ModelShape& shape,
                                   const HeadMask* mask, PruneSemantics semantics) {
  check(k.window >= 1 && k.window % 2 == 1, "preset ", k.name, ": window ", k.window,
        " must be odd");
  check(k.ffn_ratio >= 1, "preset ", k.name, ": FFN ratio must be >= 1");
  check(k.layer_keep >= 0 && k.layer_keep <= shape.n_layers, "preset ", k.name, ": L_keep ",
        k.layer_keep, " is outside 0..", shape.n_layers);
  check(k.heads_keep >= 0 || mask != nullptr, "preset ", k.name, ": no head count and no mask");
  check(k.heads_keep <= shape.n_heads, "preset ", k.name, ": K ", k.heads_keep, " exceeds ",
        shape.n_heads, " heads");
  if (mask) check_head_mask_shape(*mask, shape.n_layers, shape.n_heads, "head mask for " + k.name);
  PruningPlan plan;
  plan.name = k.name;
  plan.semantics = semantics;
  plan.layers.assign(size_t(shape.n_layers), LayerPlan{});
  const int64_t width = std::max<int64_t>(1, int64_t(std::floor(double(shape.m) / k.ffn_ratio)));
  for (int64_t l = 0; l < shape.n_layers; ++l) {
    LayerPlan& lp = plan.layers[size_t(l)];
    lp.window_radius = (k.window - 1) / 2;
    lp.ffn_width = width;
    if (l >= k.layer_keep) {
      lp.visual_active = false;
    } else if (k.heads_keep < 0) {
      lp.head_keep = (*mask)[size_t(l)];
    } else if (l >= k.full_layers) {
      lp.head_keep.assign(size_t(shape.n_heads), 0);
      for (int64_t h = 0; h < k.heads_keep; ++h) lp.head_keep[size_t(h)] = 1;
    }
  }
  normalize_plan(plan, shape.m);
  validate_plan(plan, {shape.n_layers, shape.n_heads, shape.m});
  return plan;
}

PruningPlan make_preset(const std::string& name, const ModelShape& shape, PruneSemantics semantics,
                        const HeadMask* mask) {
  return plan_from_preset_knobs(preset_knobs(name, shape, mask), shape, mask, semantics);
}

PruningPlan make_preset(const std::string& name, const LlamaConfig& cfg, PruneSemantics semantics,
                        const HeadMask* mask) {
  return make_preset(name, shape_of(cfg), semantics, mask);
}

}  // namespace yopo
