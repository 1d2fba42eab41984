#include "prune/plan_spec.h"

#include <cmath>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_file.h"
#include "models/llama_config.h"
#include "prune/flops_model.h"
#include "prune/head_mask.h"
#include "prune/plan_json.h"
#include "prune/presets.h"
#include "prune/token_spec.h"
#include "prune/yopo_knobs.h"

namespace yopo {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSpecHelp =
    "dense, yopo-25, yopo-12, a plan .json file, a YOPO config.json (or its directory), or "
    "fastv:K=2,R=0.5, pdrop:layers=8/16/24,lambda=0.5, sparsevlm:budget=192, or "
    "techniques window:r=R, ffn:ratio=R, heads:keep=K, heads:mask=FILE, layercut:keep=L joined "
    "with '+'";

bool path_exists(const std::string& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

struct Resolver {
  Resolver(const LlamaConfig& c, const std::string& m) : cfg(c), mask_path(m) {}

  const LlamaConfig& cfg;
  const std::string& mask_path;
  bool mask_used = false;

  HeadMask mask;  // the given head mask, once read
  bool mask_loaded = false;

  const HeadMask& given_mask() {
    if (!mask_loaded) {
      mask = read_head_mask(mask_path);
      check_head_mask_shape(mask, cfg.n_layers, cfg.n_heads, "head mask '" + mask_path + "'");
      mask_loaded = true;
    }
    mask_used = true;
    return mask;
  }

  PruningPlan yopo_config(const nlohmann::json& j, const fs::path& config_path) {
    const YopoKnobs knobs = read_yopo_knobs(j);
    HeadMask m;
    if (!mask_path.empty()) {
      m = given_mask();
    } else if (knobs.headcut_num) {
      const std::string stem = reference_head_mask_name(cfg, *knobs.headcut_num);
      const fs::path dir = config_path.parent_path();
      bool found = false;
      for (const char* ext : {".npy", ".json"}) {
        const fs::path p = dir / (stem + ext);
        if (!stem.empty() && path_exists(p.string())) {
          m = read_head_mask(p.string());
          check_head_mask_shape(m, cfg.n_layers, cfg.n_heads, "head mask '" + p.string() + "'");
          found = true;
          break;
        }
      }
      check(found, "YOPO config '", config_path.string(),
            "' sets headcut_num = ", *knobs.headcut_num, ": give its head mask with --head-mask",
            stem.empty() ? std::string() : " (the reference names it " + stem + ".npy)");
    }
    return plan_from_yopo_knobs(knobs, m, cfg, PruneSemantics::Exact);
  }

  PruningPlan path_base(const std::string& part) {
    fs::path p = part;
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      check(path_exists((p / "config.json").string()), "'", part,
            "' is a directory without config.json (expected a YOPO checkpoint)");
      p /= "config.json";
    }
    const nlohmann::json j = read_json_file(p.string());
    if (has_yopo_knobs(j)) return yopo_config(j, p);
    if (j.is_object() && (j.contains("architectures") || j.contains("model_type")))
      fail("'", p.string(), "' is a model config.json without YOPO knobs (attncut_w, ",
           "layercut_num, headcut_num, mlpcut_ratio): not a pruning plan");
    return read_plan_file(p.string(), plan_shape_of(cfg));
  }

  // key=value pairs after "name:".
  static std::map<std::string, std::string> args_of(const std::string& part, size_t colon) {
    std::map<std::string, std::string> args;
    if (colon == std::string::npos) return args;
    const std::string rest = part.substr(colon + 1);
    size_t start = 0;
    while (start <= rest.size()) {
      size_t comma = rest.find(',', start);
      if (comma == std::string::npos) comma = rest.size();
      const std::string kv = rest.substr(start, comma - start);
      const size_t eq = kv.find('=');
      check(eq != std::string::npos && eq > 0 && eq + 1 < kv.size(), "plan spec '", part, "': '",
            kv, "' is not key=value");
      check(args.emplace(kv.substr(0, eq), kv.substr(eq + 1)).second, "plan spec '", part, "': '",
            kv.substr(0, eq), "' is given twice");
      start = comma + 1;
    }
    return args;
  }

  static int64_t int_arg(const std::string& part, const std::string& key, const std::string& v,
                         int64_t lo, int64_t hi) {
    size_t used = 0;
    int64_t x = 0;
    try {
      x = std::stoll(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(used == v.size() && !v.empty(), "plan spec '", part, "': ", key, "=", v,
          " is not an integer");
    check(x >= lo && x <= hi, "plan spec '", part, "': ", key, "=", x, " is outside ", lo, "..",
          hi);
    return x;
  }

  static void allow_only(const std::string& part, const std::map<std::string, std::string>& a,
                         std::initializer_list<const char*> keys) {
    for (const auto& [k, _] : a) {
      bool ok = false;
      std::string list;
      for (const char* x : keys) {
        ok = ok || k == x;
        list += std::string(list.empty() ? "" : ", ") + x;
      }
      check(ok, "plan spec '", part, "': unknown argument '", k, "' (allowed: ", list, ")");
    }
  }

  void apply_technique(const std::string& part, PruningPlan& plan) {
    const size_t colon = part.find(':');
    const std::string name = part.substr(0, colon);
    const auto a = args_of(part, colon);
    const int64_t L = cfg.n_layers, H = cfg.n_heads, m = cfg.ffn_dim;
    if (plan.layers.empty()) plan.layers.assign(size_t(L), LayerPlan{});
    if (name == "window") {
      allow_only(part, a, {"r", "w"});
      check(a.size() <= 1, "plan spec '", part, "': give r or w, not both");
      int64_t r = 2;
      if (a.count("r")) r = int_arg(part, "r", a.at("r"), 0, 1 << 20);
      if (a.count("w")) {
        const int64_t w = int_arg(part, "w", a.at("w"), 1, 1 << 20);
        check(w % 2 == 1, "plan spec '", part, "': the window side w must be odd");
        r = (w - 1) / 2;
      }
      for (LayerPlan& lp : plan.layers) lp.window_radius = r;
    } else if (name == "ffn") {
      allow_only(part, a, {"ratio", "width"});
      check(a.size() <= 1, "plan spec '", part, "': give ratio or width, not both");
      int64_t width = m / 2;
      if (a.count("width")) width = int_arg(part, "width", a.at("width"), 1, m);
      if (a.count("ratio")) {
        const std::string& v = a.at("ratio");
        size_t used = 0;
        double r = 0;
        try {
          r = std::stod(v, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        check(used == v.size() && std::isfinite(r) && r >= 1, "plan spec '", part, "': ratio=", v,
              " must be a number >= 1");
        width = std::max<int64_t>(1, int64_t(std::floor(double(m) / r)));
      }
      for (LayerPlan& lp : plan.layers) lp.ffn_width = width;
    } else if (name == "heads") {
      allow_only(part, a, {"keep", "from", "mask"});
      if (a.count("keep")) {
        check(!a.count("mask"), "plan spec '", part, "': give keep or mask, not both");
        const int64_t k = int_arg(part, "keep", a.at("keep"), 0, H);
        const int64_t from = a.count("from") ? int_arg(part, "from", a.at("from"), 0, L) : 2;
        for (int64_t l = from; l < L; ++l) {
          auto& keep = plan.layers[size_t(l)].head_keep;
          keep.assign(size_t(H), 0);
          for (int64_t h = 0; h < k; ++h) keep[size_t(h)] = 1;
        }
      } else {
        check(!a.count("from"), "plan spec '", part, "': 'from' goes with keep=K");
        HeadMask mask;
        if (a.count("mask")) {
          mask = read_head_mask(a.at("mask"));
          check_head_mask_shape(mask, L, H, "head mask '" + a.at("mask") + "'");
        } else {
          check(!mask_path.empty(), "plan spec '", part,
                "': give heads:keep=K, heads:mask=FILE, or a head mask file (--head-mask)");
          mask = given_mask();
        }
        for (int64_t l = 0; l < L; ++l) plan.layers[size_t(l)].head_keep = mask[size_t(l)];
      }
    } else if (name == "layercut") {
      allow_only(part, a, {"keep"});
      check(a.count("keep"), "plan spec '", part, "': give layercut:keep=L");
      const int64_t keep = int_arg(part, "keep", a.at("keep"), 0, L);
      for (int64_t l = keep; l < L; ++l) plan.layers[size_t(l)].visual_active = false;
    } else {
      fail("unknown plan spec '", part, "' (expected ", kSpecHelp, ")");
    }
  }

  bool is_base(const std::string& part) const {
    return part == "dense" || is_preset_name(part) || path_exists(part);
  }

  PruningPlan base(const std::string& part) {
    if (part == "dense") return PruningPlan{};
    if (is_preset_name(part)) {
      const HeadMask* m = mask_path.empty() ? nullptr : &given_mask();
      return make_preset(part, cfg, PruneSemantics::Exact, m);
    }
    return path_base(part);
  }
};

bool looks_like_path(const std::string& s) {
  return s.find('/') != std::string::npos || s.ends_with(".json");
}

}  // namespace

std::vector<std::string> plan_spec_parts(const std::string& spec) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t plus = spec.find('+', start);
    parts.push_back(spec.substr(start, plus == std::string::npos ? plus : plus - start));
    if (plus == std::string::npos) return parts;
    start = plus + 1;
  }
}

PruningPlan resolve_plan_spec(const std::string& spec, const LlamaConfig& cfg,
                              PruneSemantics semantics, const std::string& head_mask_path,
                              UnusedHeadMask unused) {
  check(!spec.empty(), "empty plan spec (expected ", kSpecHelp, ")");
  const bool unused_ok = unused == UnusedHeadMask::Ignore;
  if (is_token_spec(spec)) {
    check(head_mask_path.empty() || unused_ok, "a head mask file ('", head_mask_path,
          "') was given but plan spec '", spec, "' does not use one");
    PruningPlan plan;
    plan.name = spec;
    plan.tokens = parse_token_spec(spec, cfg.n_layers);
    plan.semantics = semantics;
    return plan;
  }
  Resolver r(cfg, head_mask_path);
  PruningPlan plan;
  if (r.is_base(spec)) {  // also a path that holds '+'
    plan = r.base(spec);
  } else {
    const std::vector<std::string> parts = plan_spec_parts(spec);
    for (size_t i = 0; i < parts.size(); ++i) {
      const std::string& part = parts[i];
      check(!part.empty(), "plan spec '", spec, "' has an empty part");
      if (r.is_base(part)) {
        check(i == 0, "plan spec '", spec, "': '", part,
              "' is a whole plan; it can only come first, before the techniques that modify it");
        plan = r.base(part);
      } else if (looks_like_path(part) && part.find(':') == std::string::npos) {
        fail("plan file '", part, "' does not exist");
      } else {
        r.apply_technique(part, plan);
      }
    }
    if (parts.size() > 1)
      plan.name = spec;
    else if (!r.is_base(parts[0]))
      plan.name = spec;
  }
  check(head_mask_path.empty() || r.mask_used || unused_ok, "a head mask file ('", head_mask_path,
        "') was given but plan spec '", spec, "' does not use one");
  plan.semantics = semantics;
  normalize_plan(plan, cfg.ffn_dim);
  validate_plan(plan, plan_shape_of(cfg));
  return plan;
}

}  // namespace yopo
