#include "prune/yopo_knobs.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/llama_config.h"
#include "prune/head_mask.h"
#include "prune/plan_json.h"

namespace yopo {

namespace {

constexpr const char* kKnobs[] = {"attncut_w", "layercut_num", "headcut_num", "mlpcut_ratio",
                                  "sprompt_len"};

// The object holding the knobs: the top level, else text_config.
const nlohmann::json* knob_holder(const nlohmann::json& cfg) {
  if (!cfg.is_object()) return nullptr;
  for (const char* k : kKnobs)
    if (cfg.contains(k)) return &cfg;
  auto tc = cfg.find("text_config");
  if (tc != cfg.end() && tc->is_object())
    for (const char* k : kKnobs)
      if (tc->contains(k)) return &*tc;
  return nullptr;
}

std::optional<int64_t> int_knob(const nlohmann::json& j, const char* key, int64_t min) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  // Some configs store integers as floats (16.0): accept those when they are whole.
  check(it->is_number(), "YOPO config: '", key, "' must be an integer, not ", it->dump());
  const double v = it->get<double>();
  check(std::floor(v) == v && std::abs(v) < 1e9, "YOPO config: '", key,
        "' must be an integer, not ", it->dump());
  check(int64_t(v) >= min, "YOPO config: '", key, "' is ", it->dump(), " (must be >= ", min, ")");
  return int64_t(v);
}

}  // namespace

bool has_yopo_knobs(const nlohmann::json& cfg) {
  return knob_holder(cfg) != nullptr;
}

YopoKnobs read_yopo_knobs(const nlohmann::json& cfg) {
  YopoKnobs k;
  const nlohmann::json* j = knob_holder(cfg);
  if (j == nullptr) return k;
  k.attncut_w = int_knob(*j, "attncut_w", 1);
  if (k.attncut_w)
    check(*k.attncut_w % 2 == 1, "YOPO config: 'attncut_w' is ", *k.attncut_w,
          " (the window side must be odd: radius (w-1)/2)");
  k.layercut_num = int_knob(*j, "layercut_num", 0);
  k.headcut_num = int_knob(*j, "headcut_num", 0);
  k.sprompt_len = int_knob(*j, "sprompt_len", 0);
  auto r = j->find("mlpcut_ratio");
  if (r != j->end() && !r->is_null()) {
    check(r->is_number(), "YOPO config: 'mlpcut_ratio' must be a number, not ", r->dump());
    const double v = r->get<double>();
    check(std::isfinite(v) && v >= 1, "YOPO config: 'mlpcut_ratio' is ", r->dump(),
          " (must be >= 1: the visual FFN keeps floor(ffn_dim / ratio) neurons)");
    k.mlpcut_ratio = v;
  }
  return k;
}

std::string reference_head_mask_name(const LlamaConfig& cfg, int64_t headcut_num) {
  const char* size = cfg.n_layers == 32 ? "7b" : cfg.n_layers == 40 ? "13b" : nullptr;
  if (size == nullptr) return "";
  return std::string("headmask_") + size + "_" + std::to_string(headcut_num);
}

PruningPlan plan_from_yopo_knobs(const YopoKnobs& k, const HeadMask& head_mask,
                                 const LlamaConfig& model, PruneSemantics semantics) {
  const int64_t L = model.n_layers;
  if (!head_mask.empty())
    check_head_mask_shape(head_mask, L, model.n_heads, "head mask for the YOPO config");
  if (k.layercut_num)
    check(*k.layercut_num <= L, "YOPO config: 'layercut_num' is ", *k.layercut_num,
          " but the model has only ", L, " layers");
  PruningPlan plan;
  plan.name = "yopo-config";
  plan.semantics = semantics;
  plan.layers.assign(size_t(L), LayerPlan{});
  for (int64_t l = 0; l < L; ++l) {
    LayerPlan& lp = plan.layers[size_t(l)];
    if (k.attncut_w) lp.window_radius = (*k.attncut_w - 1) / 2;
    if (k.mlpcut_ratio)
      lp.ffn_width =
          std::max<int64_t>(1, int64_t(std::floor(double(model.ffn_dim) / *k.mlpcut_ratio)));
    if (k.layercut_num && l >= *k.layercut_num) {
      lp.visual_active = false;
    } else if (!head_mask.empty()) {
      lp.head_keep = head_mask[size_t(l)];
    }
  }
  normalize_plan(plan, model.ffn_dim);
  validate_plan(plan, plan_shape_of(model));
  return plan;
}

PruningPlan plan_from_yopo_config(const nlohmann::json& cfg, const HeadMask& head_mask,
                                  const LlamaConfig& model, PruneSemantics semantics) {
  check(has_yopo_knobs(cfg),
        "config.json holds none of the YOPO knobs (attncut_w, "
        "layercut_num, headcut_num, mlpcut_ratio, sprompt_len)");
  return plan_from_yopo_knobs(read_yopo_knobs(cfg), head_mask, model, semantics);
}

}  // namespace yopo
