#include "prune/plan_json.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_file.h"
#include "models/llama_config.h"
#include "prune/head_mask.h"

namespace yopo {

namespace {

using nlohmann::json;

constexpr const char* kTopKeys =
    "name, semantics, description, n_layers, layers, defaults, head_mask, layer_cut, overrides";
constexpr const char* kLayerKeys = "visual, heads, ffn_width, ffn_ratio, window_radius, window";
constexpr const char* kCompactKeys[] = {"defaults", "head_mask", "layer_cut", "overrides"};

// Where in the document a value lies, for error messages.
struct Where {
  const std::string& origin;
  std::string place;  // "layer 3", "defaults", "overrides \"0-1\""
};

template <class... Parts>
[[noreturn]] void bad(const Where& w, const Parts&... parts) {
  fail(w.origin, ", ", w.place, ": ", parts...);
}

int64_t integer(const json& v, const Where& w, const char* key) {
  if (!v.is_number_integer()) bad(w, "'", key, "' must be an integer, not ", v.dump());
  return v.get<int64_t>();
}

std::vector<uint8_t> parse_heads(const json& v, const Where& w, int64_t n_heads) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "all") return {};
    if (s == "none") return std::vector<uint8_t>(size_t(n_heads), 0);
    bad(w, "'heads' must be \"all\", \"none\", a list of head indices or {\"first\": K}, not \"", s,
        "\"");
  }
  if (v.is_object()) {
    for (const auto& [k, _] : v.items())
      if (k != "first") bad(w, "unknown key '", k, "' in 'heads' (allowed: first)");
    if (!v.contains("first")) bad(w, "'heads' object needs 'first'");
    const int64_t k = integer(v["first"], w, "heads.first");
    if (k < 0 || k > n_heads) bad(w, "'heads' first ", k, " is outside 0..", n_heads);
    std::vector<uint8_t> keep(size_t(n_heads), 0);
    for (int64_t h = 0; h < k; ++h) keep[size_t(h)] = 1;
    return keep;
  }
  if (!v.is_array())
    bad(w, "'heads' must be \"all\", \"none\", a list of head indices or {\"first\": K}, not ",
        v.type_name());
  std::vector<uint8_t> keep(size_t(n_heads), 0);
  for (const json& e : v) {
    if (!e.is_number_integer()) bad(w, "'heads' holds ", e.dump(), ", not a head index");
    const int64_t h = e.get<int64_t>();
    if (h < 0 || h >= n_heads)
      bad(w, "'heads' index ", h, " is outside 0..", n_heads - 1, " (the model has ", n_heads,
          " heads)");
    if (keep[size_t(h)]) bad(w, "'heads' lists head ", h, " twice");
    keep[size_t(h)] = 1;
  }
  return keep;
}

// Applies the keys of a layer object onto lp.
void apply_layer_object(const json& obj, LayerPlan& lp, const Where& w, const PlanShape& shape) {
  if (!obj.is_object()) bad(w, "a layer must be a JSON object, not ", obj.type_name());
  for (const auto& [key, _] : obj.items()) {
    static const std::set<std::string> allowed = {"visual",    "heads",  "ffn_width",
                                                  "ffn_ratio", "window", "window_radius"};
    if (!allowed.count(key)) bad(w, "unknown key '", key, "' (allowed: ", kLayerKeys, ")");
  }
  if (obj.contains("ffn_width") && obj.contains("ffn_ratio"))
    bad(w, "give 'ffn_width' or 'ffn_ratio', not both");
  if (obj.contains("window_radius") && obj.contains("window"))
    bad(w, "give 'window_radius' or 'window', not both");
  if (obj.contains("visual")) {
    const json& v = obj["visual"];
    if (!v.is_boolean()) bad(w, "'visual' must be true or false, not ", v.dump());
    lp.visual_active = v.get<bool>();
  }
  if (obj.contains("heads")) lp.head_keep = parse_heads(obj["heads"], w, shape.n_heads);
  if (obj.contains("ffn_width")) {
    const json& v = obj["ffn_width"];
    if (v.is_null()) {
      lp.ffn_width = -1;
    } else {
      const int64_t width = integer(v, w, "ffn_width");
      if (width < 1 || width > shape.ffn_dim)
        bad(w, "'ffn_width' ", width, " is outside 1..", shape.ffn_dim, " (the FFN size)");
      lp.ffn_width = width;
    }
  }
  if (obj.contains("ffn_ratio")) {
    const json& v = obj["ffn_ratio"];
    if (v.is_null()) {
      lp.ffn_width = -1;
    } else {
      if (!v.is_number()) bad(w, "'ffn_ratio' must be a number, not ", v.dump());
      const double r = v.get<double>();
      if (!(r >= 1) || !std::isfinite(r))
        bad(w, "'ffn_ratio' ", v.dump(), " must be a finite number >= 1");
      lp.ffn_width = std::max<int64_t>(1, int64_t(std::floor(double(shape.ffn_dim) / r)));
    }
  }
  if (obj.contains("window_radius")) {
    const json& v = obj["window_radius"];
    if (v.is_null()) {
      lp.window_radius = -1;
    } else {
      const int64_t r = integer(v, w, "window_radius");
      if (r < 0) bad(w, "'window_radius' ", r, " is negative (use null for no window)");
      lp.window_radius = r;
    }
  }
  if (obj.contains("window")) {
    const json& v = obj["window"];
    if (v.is_null()) {
      lp.window_radius = -1;
    } else {
      const int64_t win = integer(v, w, "window");
      if (win < 1 || win % 2 == 0) bad(w, "'window' ", win, " must be an odd number >= 1");
      lp.window_radius = (win - 1) / 2;
    }
  }
}

// Layers named by an override key: "7" or "2-5" (inclusive).
std::pair<int64_t, int64_t> layer_range(const std::string& key, const Where& w, int64_t n) {
  auto number = [&](const std::string& s) -> int64_t {
    if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos)
      bad(w, "override key '", key, "' is not a layer index or a range like \"2-5\"");
    return std::stoll(s);
  };
  const size_t dash = key.find('-');
  const int64_t a = number(key.substr(0, dash));
  const int64_t b = dash == std::string::npos ? a : number(key.substr(dash + 1));
  if (a > b) bad(w, "override range '", key, "' is empty (", a, " > ", b, ")");
  if (b >= n)
    bad(w, "override '", key, "' names layer ", b, " but the model has ", n, " layers (0..", n - 1,
        ")");
  return {a, b};
}

HeadMask parse_inline_mask(const json& v, const Where& w) {
  if (!v.is_array()) bad(w, "'head_mask' must be a matrix [layer][head] of 0/1 or a file path");
  HeadMask mask;
  for (size_t l = 0; l < v.size(); ++l) {
    if (!v[l].is_array()) bad(w, "head_mask[", l, "] must be an array of 0/1, one per head");
    std::vector<uint8_t> row;
    for (size_t h = 0; h < v[l].size(); ++h) {
      const json& e = v[l][h];
      if (e.is_boolean()) {
        row.push_back(e.get<bool>());
      } else if (e.is_number_integer() && (e.get<int64_t>() == 0 || e.get<int64_t>() == 1)) {
        row.push_back(uint8_t(e.get<int64_t>()));
      } else {
        bad(w, "head_mask[", l, "][", h, "] is ", e.dump(), " (must be 0 or 1)");
      }
    }
    mask.push_back(std::move(row));
  }
  return mask;
}

std::string place_of_layer(size_t l) {
  return "layer " + std::to_string(l);
}

PruningPlan parse_full(const json& j, const PlanShape& shape, const std::string& origin) {
  const json& layers = j["layers"];
  Where w{origin, "'layers'"};
  if (!layers.is_array()) bad(w, "'layers' must be an array of layer objects");
  PruningPlan plan;
  if (layers.empty()) return plan;
  if (int64_t(layers.size()) != shape.n_layers)
    bad(w, "the plan has ", layers.size(), " layers but the model has ", shape.n_layers);
  for (size_t l = 0; l < layers.size(); ++l) {
    LayerPlan lp;
    apply_layer_object(layers[l], lp, Where{origin, place_of_layer(l)}, shape);
    plan.layers.push_back(std::move(lp));
  }
  return plan;
}

PruningPlan parse_compact(const json& j, const PlanShape& shape, const std::string& origin,
                          const std::string& base_dir) {
  PruningPlan plan;
  bool any = false;
  for (const char* k : kCompactKeys) any = any || j.contains(k);
  if (!any) return plan;  // nothing pruned: a dense plan without layers
  plan.layers.assign(size_t(shape.n_layers), LayerPlan{});
  if (j.contains("defaults")) {
    LayerPlan def;
    apply_layer_object(j["defaults"], def, Where{origin, "'defaults'"}, shape);
    for (LayerPlan& lp : plan.layers) lp = def;
  }
  if (j.contains("head_mask")) {
    const json& v = j["head_mask"];
    const Where w{origin, "'head_mask'"};
    if (j.contains("defaults") && j["defaults"].is_object() && j["defaults"].contains("heads"))
      bad(w, "'defaults' sets 'heads' too: give the heads one way (use overrides for exceptions)");
    HeadMask mask;
    std::string mask_origin = origin + " 'head_mask'";
    if (v.is_string()) {
      std::filesystem::path p = v.get<std::string>();
      if (p.is_relative() && !base_dir.empty()) p = std::filesystem::path(base_dir) / p;
      mask = read_head_mask(p.string());
      mask_origin = "head mask '" + p.string() + "' named by " + origin;
    } else {
      mask = parse_inline_mask(v, w);
    }
    check_head_mask_shape(mask, shape.n_layers, shape.n_heads, mask_origin);
    for (size_t l = 0; l < mask.size(); ++l) plan.layers[l].head_keep = mask[l];
  }
  if (j.contains("layer_cut")) {
    const Where w{origin, "'layer_cut'"};
    const int64_t cut = integer(j["layer_cut"], w, "layer_cut");
    if (cut < 0 || cut > shape.n_layers)
      bad(w, "'layer_cut' ", cut, " is outside 0..", shape.n_layers,
          " (layers >= layer_cut do no visual work)");
    for (int64_t l = cut; l < shape.n_layers; ++l) plan.layers[size_t(l)].visual_active = false;
  }
  if (j.contains("overrides")) {
    const json& ov = j["overrides"];
    if (!ov.is_object())
      bad(Where{origin, "'overrides'"},
          "'overrides' must be an object {\"layer or range\": {...}}");
    std::map<int64_t, std::string> named;  // layer -> override key naming it
    std::vector<std::pair<std::pair<int64_t, int64_t>, const json*>> items;
    for (const auto& [key, value] : ov.items()) {
      const Where w{origin, "overrides \"" + key + "\""};
      const auto range = layer_range(key, w, shape.n_layers);
      for (int64_t l = range.first; l <= range.second; ++l) {
        auto [it, fresh] = named.emplace(l, key);
        if (!fresh) bad(w, "layer ", l, " is also named by override \"", it->second, "\"");
      }
      items.push_back({range, &value});
    }
    for (const auto& [range, value] : items)
      for (int64_t l = range.first; l <= range.second; ++l)
        apply_layer_object(*value, plan.layers[size_t(l)],
                           Where{origin, "overrides, layer " + std::to_string(l)}, shape);
  }
  return plan;
}

json heads_json(const LayerPlan& lp) {
  if (lp.head_keep.empty() || lp.all_heads_kept()) return "all";
  json a = json::array();
  for (size_t h = 0; h < lp.head_keep.size(); ++h)
    if (lp.head_keep[h]) a.push_back(h);
  return a;
}

json nullable(int64_t v) {
  return v < 0 ? json(nullptr) : json(v);
}

template <class T>
T most_common(const std::vector<T>& values) {
  std::map<T, int> counts;
  for (const T& v : values) ++counts[v];
  T best = values.front();
  for (const T& v : values)  // the first value among the most frequent ones
    if (counts[v] > counts[best]) best = v;
  return best;
}

}  // namespace

PlanShape plan_shape_of(const LlamaConfig& cfg) {
  return {cfg.n_layers, cfg.n_heads, cfg.ffn_dim};
}

void normalize_plan(PruningPlan& plan, int64_t ffn_dim) {
  for (LayerPlan& lp : plan.layers) {
    if (!lp.head_keep.empty() && lp.all_heads_kept()) lp.head_keep.clear();
    if (ffn_dim > 0 && lp.ffn_width == ffn_dim) lp.ffn_width = -1;
  }
}

bool same_plan(const PruningPlan& a, const PruningPlan& b) {
  if (a.name != b.name || a.semantics != b.semantics || a.layers.size() != b.layers.size())
    return false;
  for (size_t l = 0; l < a.layers.size(); ++l) {
    const LayerPlan &x = a.layers[l], &y = b.layers[l];
    if (x.visual_active != y.visual_active || x.head_keep != y.head_keep ||
        x.ffn_width != y.ffn_width || x.window_radius != y.window_radius)
      return false;
  }
  return true;
}

void validate_plan(const PruningPlan& plan, const PlanShape& shape) {
  plan.validate(shape.n_layers, shape.n_heads, shape.ffn_dim);
  for (size_t l = 0; l < plan.layers.size(); ++l)
    for (size_t h = 0; h < plan.layers[l].head_keep.size(); ++h)
      check(plan.layers[l].head_keep[h] <= 1, "pruning plan '", plan.name, "', layer ", l,
            ": head ", h, " has keep value ", int(plan.layers[l].head_keep[h]),
            " (must be 0 or 1)");
}

PruningPlan plan_from_json(const json& j, const PlanShape& shape, const std::string& origin,
                           const std::string& base_dir) {
  check(j.is_object(), origin, ": a pruning plan must be a JSON object");
  check(shape.n_layers > 0 && shape.n_heads > 0 && shape.ffn_dim > 0, origin,
        ": the model shape to check the plan against has a non-positive size");
  const Where top{origin, "top level"};
  for (const auto& [key, _] : j.items()) {
    static const std::set<std::string> allowed = {"name",      "semantics", "description",
                                                  "n_layers",  "layers",    "defaults",
                                                  "head_mask", "layer_cut", "overrides"};
    if (!allowed.count(key)) bad(top, "unknown key '", key, "' (allowed: ", kTopKeys, ")");
  }
  if (j.contains("layers"))
    for (const char* k : kCompactKeys)
      if (j.contains(k))
        bad(top, "'layers' (the full form) cannot be combined with '", k,
            "' (the compact form): use one or the other");
  if (j.contains("n_layers")) {
    const int64_t n = integer(j["n_layers"], top, "n_layers");
    if (n != shape.n_layers)
      bad(top, "'n_layers' is ", n, " but the model has ", shape.n_layers, " layers");
  }
  PruningPlan plan = j.contains("layers") ? parse_full(j, shape, origin)
                                          : parse_compact(j, shape, origin, base_dir);
  plan.name = "custom";
  if (j.contains("name")) {
    if (!j["name"].is_string()) bad(top, "'name' must be a string");
    plan.name = j["name"].get<std::string>();
  }
  if (j.contains("semantics")) {
    if (!j["semantics"].is_string()) bad(top, "'semantics' must be \"exact\" or \"fast\"");
    const std::string s = j["semantics"].get<std::string>();
    if (s != "exact" && s != "fast") bad(top, "'semantics' is \"", s, "\" (allowed: exact, fast)");
    plan.semantics = parse_semantics(s);
  }
  if (j.contains("description") && !j["description"].is_string())
    bad(top, "'description' must be a string");
  normalize_plan(plan, shape.ffn_dim);
  validate_plan(plan, shape);
  return plan;
}

PruningPlan read_plan_file(const std::string& path, const PlanShape& shape) {
  const json j = read_json_file(path);
  const std::filesystem::path p(path);
  PruningPlan plan = plan_from_json(j, shape, "plan file '" + path + "'", p.parent_path().string());
  if (!j.contains("name")) plan.name = p.stem().string();
  return plan;
}

json plan_to_json(const PruningPlan& plan) {
  json j = json::object();
  j["name"] = plan.name;
  j["semantics"] = semantics_name(plan.semantics);
  json layers = json::array();
  for (const LayerPlan& lp : plan.layers) {
    json o = json::object();
    o["visual"] = lp.visual_active;
    o["heads"] = heads_json(lp);
    o["ffn_width"] = nullable(lp.ffn_width);
    o["window_radius"] = nullable(lp.window_radius);
    layers.push_back(std::move(o));
  }
  j["layers"] = std::move(layers);
  return j;
}

json plan_to_compact_json(const PruningPlan& plan) {
  json j = json::object();
  j["name"] = plan.name;
  j["semantics"] = semantics_name(plan.semantics);
  if (plan.layers.empty()) return j;
  const size_t n = plan.layers.size();
  j["n_layers"] = n;

  std::vector<int64_t> widths, radii;
  for (const LayerPlan& lp : plan.layers) {
    widths.push_back(lp.ffn_width);
    radii.push_back(lp.window_radius);
  }
  const int64_t def_width = most_common(widths), def_radius = most_common(radii);
  json defaults = json::object();
  if (def_width >= 0) defaults["ffn_width"] = def_width;
  if (def_radius >= 0) defaults["window_radius"] = def_radius;
  if (!defaults.empty()) j["defaults"] = std::move(defaults);

  size_t n_heads = 0;
  for (const LayerPlan& lp : plan.layers)
    if (!lp.head_keep.empty() && !lp.all_heads_kept()) n_heads = lp.head_keep.size();
  if (n_heads > 0) {
    json mask = json::array();
    for (const LayerPlan& lp : plan.layers) {
      json row = json::array();
      for (size_t h = 0; h < n_heads; ++h)
        row.push_back(lp.head_keep.empty() || h >= lp.head_keep.size() ? 1 : int(lp.head_keep[h]));
      mask.push_back(std::move(row));
    }
    j["head_mask"] = std::move(mask);
  }

  size_t cut = n;
  while (cut > 0 && !plan.layers[cut - 1].visual_active) --cut;
  if (cut < n) j["layer_cut"] = cut;

  json overrides = json::object();
  for (size_t l = 0; l < n; ++l) {
    const LayerPlan& lp = plan.layers[l];
    json o = json::object();
    if (l < cut && !lp.visual_active) o["visual"] = false;
    if (lp.ffn_width != def_width) o["ffn_width"] = nullable(lp.ffn_width);
    if (lp.window_radius != def_radius) o["window_radius"] = nullable(lp.window_radius);
    if (!o.empty()) overrides[std::to_string(l)] = std::move(o);
  }
  if (!overrides.empty()) j["overrides"] = std::move(overrides);
  return j;
}

void write_plan_file(const std::string& path, const PruningPlan& plan, bool compact) {
  const std::string text = (compact ? plan_to_compact_json(plan) : plan_to_json(plan)).dump(2);
  std::ofstream out(path, std::ios::binary);
  if (!out) fail("cannot create plan file '", path, "': ", std::strerror(errno));
  out << text << "\n";
  out.close();
  if (!out) fail("cannot write plan file '", path, "'");
}

}  // namespace yopo
