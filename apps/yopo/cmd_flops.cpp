// `yopo flops --shape llava-1.5-7b|llava-1.5-13b|MODEL_PATH [--prune SPEC] ...`: the visual
// FLOPs of a pruning plan in the YOPO paper's convention, per layer and in total, the presets'
// knobs and budgets, and (for a model path, or with --executed) the FLOPs the engine is
// predicted to execute on a LLaVA prompt.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/error.h"
#include "io/gguf.h"
#include "io/json_file.h"
#include "models/clip_vit.h"
#include "models/llama_config.h"
#include "prune/budget_match.h"
#include "prune/flops_model.h"
#include "prune/head_mask.h"
#include "prune/plan_spec.h"
#include "prune/presets.h"
#include "runtime/model_loader.h"

namespace yopo::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct FlopsOptions {
  std::string shape;
  std::string prune;
  std::string head_mask;
  std::string semantics = "exact";
  int64_t visual_tokens = 0;  // 0: from the model (576 for LLaVA-1.5)
  int64_t prefix_tokens = 35;
  int64_t text_after = 20;
  bool executed = false;
  bool json_out = false;
  bool compare = false;
};

// The model the command describes.
struct ModelInfo {
  ModelShape shape;
  LlamaConfig config;
  int64_t grid = 24;  // visual grid side (24 for LLaVA-1.5's 336px / 14px patches)
  bool from_path = false;
};

// The image grid of a LLaVA checkpoint directory, or 0 when its config does not say.
int64_t grid_of_checkpoint(const fs::path& dir, const json& cfg) {
  if (cfg.contains("vision_config") && cfg["vision_config"].is_object())
    return clip_config_from_hf(cfg["vision_config"]).grid();
  if (cfg.contains("mm_vision_tower") && cfg["mm_vision_tower"].is_string()) {
    const fs::path tower = dir / cfg["mm_vision_tower"].get<std::string>();
    if (fs::exists(tower / "config.json"))
      return clip_config_from_hf(read_json_file((tower / "config.json").string())).grid();
  }
  return 0;
}

ModelInfo model_info(const std::string& what) {
  ModelInfo info;
  if (what == "llava-1.5-7b" || what == "llava-1.5-13b") {
    info.shape = named_shape(what);
    info.config = config_of_shape(info.shape);
    return info;
  }
  check(fs::exists(what), "--shape '", what,
        "' is neither llava-1.5-7b, llava-1.5-13b nor an existing model path");
  info.from_path = true;
  if (is_gguf_file(what)) {
    GgufFile f(what);
    info.config = llama_config_from_gguf(f);
  } else {
    const fs::path p = what;
    const fs::path cfg_path = fs::is_directory(p)             ? p / "config.json"
                              : p.filename() == "config.json" ? p
                                                              : p.parent_path() / "config.json";
    check(fs::exists(cfg_path), "no config.json for model '", what, "'");
    const json cfg = read_json_file(cfg_path.string());
    info.config = llama_config_from_hf(
        cfg.contains("text_config") && cfg["text_config"].is_object() ? cfg["text_config"] : cfg);
    if (const int64_t g = grid_of_checkpoint(cfg_path.parent_path(), cfg)) info.grid = g;
  }
  info.shape = shape_of(info.config, what);
  return info;
}

// A unit for FLOP counts around `typical`: scale and prefix ("T", "G", "M", "K").
struct Unit {
  double scale;
  const char* prefix;
};
Unit unit_for(double typical) {
  if (typical >= 1e12) return {1e12, "T"};
  if (typical >= 1e9) return {1e9, "G"};
  if (typical >= 1e6) return {1e6, "M"};
  return {1e3, "K"};
}

std::string heads_cell(const LayerPlan* lp, int64_t n_heads) {
  if (lp != nullptr && !lp->visual_active) return "-";
  int64_t k = 0;
  for (int64_t h = 0; h < n_heads; ++h) k += (lp == nullptr || lp->head_active(h)) ? 1 : 0;
  return std::to_string(k) + "/" + std::to_string(n_heads);
}

std::string opt_cell(int64_t v) {
  return v < 0 ? "all" : std::to_string(v);
}

void print_paper_table(const ModelInfo& mi, const PruningPlan& plan, const VisualFlopsReport& r) {
  const Unit u = unit_for(r.dense_layer);
  std::printf("%5s %6s %7s %6s %6s %12s %9s\n", "layer", "visual", "heads", "ffn", "window",
              (std::string(u.prefix) + "FLOPs").c_str(), "of dense");
  for (int64_t l = 0; l < mi.shape.n_layers; ++l) {
    const LayerPlan* lp = plan.layer(l);
    const bool active = lp == nullptr || lp->visual_active;
    std::printf(
        "%5lld %6s %7s %6s %6s %12.2f %8.1f%%\n", (long long)l, active ? "yes" : "no",
        heads_cell(lp, mi.shape.n_heads).c_str(), lp ? opt_cell(lp->ffn_width).c_str() : "all",
        lp && lp->window_radius >= 0 ? ("r=" + std::to_string(lp->window_radius)).c_str() : "-",
        r.per_layer[size_t(l)] / u.scale, 100.0 * r.per_layer[size_t(l)] / r.dense_layer);
  }
}

void print_presets(const std::vector<PresetKnobs>& table, const ModelInfo& mi) {
  std::printf("\npresets (paper convention; window w=5, FFN ratio r=2 in every layer):\n");
  const double dense = paper_visual_flops(mi.shape, PruningPlan{}).dense_total;
  const Unit u = unit_for(dense);
  std::printf("%-8s %7s %7s %9s %10s %9s %8s  %s\n", "preset", "target", "L_keep", "heads K",
              "all-heads", (std::string(u.prefix) + "FLOPs").c_str(), "share", "how");
  for (const PresetKnobs& k : table) {
    const std::string heads = k.heads_keep < 0 ? "mask" : std::to_string(k.heads_keep);
    const std::string full = k.heads_keep < 0 ? "mask" : "0.." + std::to_string(k.full_layers - 1);
    std::printf("%-8s %6.0f%% %7lld %9s %10s %9.3f %7.2f%%  %s\n", k.name.c_str(), 100 * k.target,
                (long long)k.layer_keep, heads.c_str(),
                k.full_layers > 0 || k.heads_keep < 0 ? full.c_str() : "none",
                k.fraction * dense / u.scale, 100 * k.fraction, k.derivation.c_str());
  }
}

json parts_json(const FlopParts& p) {
  return {{"proj", p.proj}, {"attn", p.attn}, {"ffn", p.ffn}, {"total", p.total()}};
}

// Predicted executed FLOPs of one prompt, with the dense prediction beside it. `measured`, when
// given, is what the decoder counted running the same prompt (FlopCounter::layers).
// HOOK for measured counts: run the model on a prompt with this layout (t_b text rows, the
// image, t_a text rows) and the plan, pass its FlopCounter's layers here; the table then gains
// a "measured" column and the JSON a "measured" object.
json executed_report(const ModelInfo& mi, const PruningPlan& plan, const TokenLayoutSummary& t,
                     const std::vector<LayerFlops>* measured, bool print) {
  const std::vector<LayerFlops> pred = predicted_executed_flops(mi.config, plan, t);
  PruningPlan dense;
  dense.semantics = plan.semantics;
  const std::vector<LayerFlops> base = predicted_executed_flops(mi.config, dense, t);
  FlopParts vis, txt, dvis, dtxt, mvis, mtxt;
  for (const LayerFlops& f : pred) vis += f.visual, txt += f.text;
  for (const LayerFlops& f : base) dvis += f.visual, dtxt += f.text;
  if (measured)
    for (const LayerFlops& f : *measured) mvis += f.visual, mtxt += f.text;
  const double head = predicted_head_flops(mi.config, 1);
  json j = {{"layout",
             {{"text_before", t.n_text_before},
              {"grid_rows", t.grid_rows},
              {"grid_cols", t.grid_cols},
              {"text_after", t.n_text_after}}},
            {"visual", parts_json(vis)},
            {"text", parts_json(txt)},
            {"head", head},
            {"total", vis.total() + txt.total() + head},
            {"dense_visual", parts_json(dvis)},
            {"dense_text", parts_json(dtxt)},
            {"dense_total", dvis.total() + dtxt.total() + head}};
  json layers = json::array();
  for (const LayerFlops& f : pred)
    layers.push_back({{"visual", parts_json(f.visual)}, {"text", parts_json(f.text)}});
  j["per_layer"] = std::move(layers);
  if (measured) j["measured"] = {{"visual", parts_json(mvis)}, {"text", parts_json(mtxt)}};
  if (!print) return j;

  std::printf(
      "\npredicted executed FLOPs (engine convention, %s semantics) for a prompt of "
      "%lld text + %lldx%lld image + %lld text rows, prefill, logits of the last row:\n",
      semantics_name(plan.semantics), (long long)t.n_text_before, (long long)t.grid_rows,
      (long long)t.grid_cols, (long long)t.n_text_after);
  const Unit u = unit_for(dvis.total() + dtxt.total());
  const std::string g = std::string(" ") + u.prefix;
  std::printf("%-8s %10s %10s %10s %10s %10s%s\n", "rows", ("proj" + g).c_str(),
              ("attn" + g).c_str(), ("ffn" + g).c_str(), ("total" + g).c_str(),
              ("dense" + g).c_str(), measured ? ("  measured" + g).c_str() : "");
  auto row = [&](const char* name, const FlopParts& p, const FlopParts& d, const FlopParts* m) {
    std::printf("%-8s %10.3f %10.3f %10.3f %10.3f %10.3f", name, p.proj / u.scale, p.attn / u.scale,
                p.ffn / u.scale, p.total() / u.scale, d.total() / u.scale);
    if (m) std::printf("  %10.3f", m->total() / u.scale);
    std::printf("\n");
  };
  row("visual", vis, dvis, measured ? &mvis : nullptr);
  row("text", txt, dtxt, measured ? &mtxt : nullptr);
  std::printf("%-8s %54.3f\n", "head", head / u.scale);
  const double total = vis.total() + txt.total() + head,
               dense_total = dvis.total() + dtxt.total() + head;
  std::printf("total: %.3f %sFLOPs of %.3f %sFLOPs dense (%.2f%%)\n", total / u.scale, u.prefix,
              dense_total / u.scale, u.prefix, 100 * total / dense_total);
  return j;
}

// --compare: the baselines' settings that meet the paper's 25% and 12% budgets, with YOPO's.
int compare_budgets(const FlopsOptions& o, const ModelInfo& mi) {
  const int64_t n_visual = o.visual_tokens > 0 ? o.visual_tokens : mi.grid * mi.grid;
  json all = json::array();
  if (!o.json_out)
    std::printf(
        "model: %s; %lld visual tokens, %lld text tokens after the image (SparseVLM raters "
        "assumed: 10)\nFLOPs in the YOPO paper's convention (visual tokens only; selection work "
        "included) and in each method's own published convention\n",
        mi.shape.name.c_str(), (long long)n_visual, (long long)o.text_after);
  for (double budget : {0.25, 0.12}) {
    const std::vector<BudgetMatch> rows = match_budget(mi.shape, budget, n_visual, o.text_after);
    if (!o.json_out) {
      std::printf("\nbudget %.0f%% of dense:\n", 100 * budget);
      std::printf("| %-9s | %-44s | %12s | %7s | %-42s | %12s | %7s |\n", "method", "setting",
                  "paper TFLOPs", "share", "own convention", "own value", "share");
      std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(11, '-').c_str(),
                  std::string(46, '-').c_str(), std::string(14, '-').c_str(),
                  std::string(9, '-').c_str(), std::string(44, '-').c_str(),
                  std::string(14, '-').c_str(), std::string(9, '-').c_str());
    }
    for (const BudgetMatch& b : rows) {
      const bool tokens = b.own_convention.rfind("average", 0) == 0;
      if (!o.json_out)
        std::printf("| %-9s | %-44s | %12.3f | %6.2f%% | %-42s | %12.*f | %6.2f%% |\n",
                    b.method.c_str(), b.spec.c_str(), b.paper_flops / 1e12, 100 * b.paper_fraction,
                    b.own_convention.c_str(), tokens ? 1 : 3,
                    tokens ? b.own_value : b.own_value / 1e12, 100 * b.own_fraction);
      all.push_back({{"budget", budget},
                     {"method", b.method},
                     {"spec", b.spec},
                     {"paper_flops", b.paper_flops},
                     {"paper_fraction", b.paper_fraction},
                     {"own_convention", b.own_convention},
                     {"own_value", b.own_value},
                     {"own_fraction", b.own_fraction}});
    }
  }
  if (o.json_out) std::cout << json({{"model", mi.shape.name}, {"compare", all}}).dump(2) << "\n";
  return 0;
}

int flops(const FlopsOptions& o) {
  const ModelInfo mi = model_info(o.shape);
  if (o.compare) return compare_budgets(o, mi);
  const PruneSemantics sem = parse_semantics(o.semantics);
  const int64_t n_visual = o.visual_tokens > 0 ? o.visual_tokens : mi.grid * mi.grid;
  const int64_t grid = std::llround(std::sqrt(double(n_visual)));
  check(grid * grid == n_visual, "--visual-tokens ", n_visual,
        " is not a square number (the tokens form a square grid)");
  check(o.prefix_tokens >= 0 && o.text_after >= 0, "--prefix-tokens and --text-after must be >= 0");

  PruningPlan plan;
  std::vector<PresetKnobs> presets;
  if (!o.prune.empty()) {
    plan = resolve_plan_spec(o.prune, mi.config, sem, o.head_mask);
  } else {
    plan.semantics = sem;
    HeadMask mask;
    if (!o.head_mask.empty()) {
      mask = read_head_mask(o.head_mask);
      check_head_mask_shape(mask, mi.shape.n_layers, mi.shape.n_heads,
                            "head mask '" + o.head_mask + "'");
    }
    presets = preset_table(mi.shape, o.head_mask.empty() ? nullptr : &mask);
  }
  const VisualFlopsReport r = paper_visual_flops(mi.shape, plan, n_visual, grid, o.prefix_tokens);
  const bool show_executed = mi.from_path || o.executed;
  const TokenLayoutSummary layout{o.prefix_tokens, grid, grid, o.text_after};

  if (o.json_out) {
    json j = {{"model",
               {{"name", mi.shape.name},
                {"layers", mi.shape.n_layers},
                {"hidden", mi.shape.d},
                {"ffn", mi.shape.m},
                {"heads", mi.shape.n_heads},
                {"kv_heads", mi.config.n_kv_heads}}},
              {"plan", plan.name},
              {"semantics", semantics_name(plan.semantics)},
              {"visual_tokens", n_visual},
              {"grid", grid},
              {"prefix_tokens", o.prefix_tokens}};
    json parts = json::array();
    for (const FlopParts& p : r.parts) parts.push_back(parts_json(p));
    j["paper"] = {{"per_layer", r.per_layer},     {"per_layer_parts", parts},
                  {"dense_layer", r.dense_layer}, {"total", r.total},
                  {"dense_total", r.dense_total}, {"fraction", r.fraction}};
    if (!presets.empty()) {
      json t = json::array();
      for (const PresetKnobs& k : presets)
        t.push_back({{"name", k.name},
                     {"target", k.target},
                     {"window", k.window},
                     {"ffn_ratio", k.ffn_ratio},
                     {"layer_keep", k.layer_keep},
                     {"heads_keep", k.heads_keep < 0 ? json(nullptr) : json(k.heads_keep)},
                     {"full_layers", k.full_layers},
                     {"fraction", k.fraction},
                     {"total", k.fraction * r.dense_total},
                     {"derivation", k.derivation}});
      j["presets"] = std::move(t);
    }
    if (show_executed) j["executed"] = executed_report(mi, plan, layout, nullptr, false);
    std::cout << j.dump(2) << "\n";
    return 0;
  }

  std::printf("model: %s (%lld layers, hidden %lld, FFN %lld, %lld heads)\n", mi.shape.name.c_str(),
              (long long)mi.shape.n_layers, (long long)mi.shape.d, (long long)mi.shape.m,
              (long long)mi.shape.n_heads);
  std::printf("plan: %s (%s semantics)\n", plan.name.c_str(), semantics_name(plan.semantics));
  std::printf(
      "paper convention: FLOPs of the %lld visual tokens only (%lldx%lld grid, %lld text "
      "tokens before the image)\n\n",
      (long long)n_visual, (long long)grid, (long long)grid, (long long)o.prefix_tokens);
  print_paper_table(mi, plan, r);
  const Unit ut = unit_for(r.dense_total), ul = unit_for(r.dense_layer);
  if (plan.is_dense()) {
    std::printf("total: %.3f %sFLOPs (dense; %.2f %sFLOPs per layer)\n", r.total / ut.scale,
                ut.prefix, r.dense_layer / ul.scale, ul.prefix);
  } else {
    std::printf("total: %.3f %sFLOPs of %.3f %sFLOPs dense (%.2f%%)\n", r.total / ut.scale,
                ut.prefix, r.dense_total / ut.scale, ut.prefix, 100 * r.fraction);
  }
  if (!presets.empty()) print_presets(presets, mi);
  if (show_executed) executed_report(mi, plan, layout, nullptr, true);
  return 0;
}

}  // namespace

void add_flops_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "flops", "Visual FLOPs of a pruning plan (YOPO paper convention) and the presets' budgets");
  auto o = std::make_shared<FlopsOptions>();
  cmd->add_option("--shape", o->shape,
                  "llava-1.5-7b, llava-1.5-13b, or a model path (GGUF, HF or LLaVA directory)")
      ->required();
  cmd->add_option("--prune", o->prune,
                  "Plan: dense, yopo-25, yopo-12, a plan .json, a YOPO config.json, or "
                  "techniques like window:r=2+ffn:ratio=2 (see docs/pruning-plans.md)");
  cmd->add_option("--head-mask", o->head_mask, "Head mask file (.json or .npy) for the plan");
  cmd->add_option("--semantics", o->semantics, "exact or fast")->capture_default_str();
  cmd->add_option("--visual-tokens", o->visual_tokens,
                  "Visual tokens of the image, a square number (default: the model's, 576)");
  cmd->add_option("--prefix-tokens", o->prefix_tokens, "Text tokens before the image")
      ->capture_default_str();
  cmd->add_option("--text-after", o->text_after,
                  "Text tokens after the image (executed-FLOPs prompt)")
      ->capture_default_str();
  cmd->add_flag("--executed", o->executed,
                "Also print the predicted executed FLOPs for a named shape");
  cmd->add_flag("--json", o->json_out, "Print JSON instead of tables");
  cmd->add_flag("--compare", o->compare,
                "FastV, PyramidDrop, SparseVLM and YOPO settings meeting the 25% and 12% budgets");
  cmd->callback([&action, o] { action = [o] { return flops(*o); }; });
}

}  // namespace yopo::cli
