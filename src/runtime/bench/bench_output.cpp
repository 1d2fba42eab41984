#include "runtime/bench/bench_output.h"

#include <map>
#include <sstream>

#include "core/error.h"
#include "core/svg_plot.h"
#include "runtime/bench/csv_writer.h"
#include "runtime/bench/text_table.h"

namespace yopo::bench {

using svg::LineChart;
using svg::render_svg;
using svg::Series;

namespace {

using nlohmann::json;

json opt(const std::optional<double>& v) {
  return v ? json(*v) : json(nullptr);
}

json summary_json(const Summary& s) {
  return {
      {"median", s.median}, {"min", s.min}, {"max", s.max}, {"mean", s.mean}, {"count", s.count}};
}

json stages_json(const StageBreakdown& b) {
  json st = json::object();
  for (size_t s = 0; s < size_t(Stage::Count); ++s)
    if (b.stage_ms[s] > 0) st[stage_name(Stage(s))] = b.stage_ms[s];
  return {{"total_ms", b.total_ms},
          {"layer_ms", b.layer_ms},
          {"outside_ms", b.outside_ms},
          {"stage_ms", st}};
}

json result_json(const MethodResult& r) {
  const bool ok = r.status == "ok";
  auto val = [&](double v) { return ok ? json(v) : json(nullptr); };
  json j = {
      {"method", r.method},
      {"semantics", r.semantics},
      {"status", r.status},
      {"visual_tokens", r.visual_tokens},
      {"grid", r.grid},
      {"prompt_tokens", r.prompt_tokens},
      {"layers", r.layers},
      {"full_layers", r.full_layers},
      {"layer_sample", r.layer_sample},
      {"real_layers", r.real_layers},
      {"prefill_ms", val(r.prefill_ms.median)},
      {"prefill_ms_min", val(r.prefill_ms.min)},
      {"prefill_ms_max", val(r.prefill_ms.max)},
      {"decode_tok_s", opt(r.decode_tok_s)},
      {"executed_gflop", val(r.executed_gflop)},
      {"visual_gflop", val(r.visual_gflop)},
      {"text_gflop", val(r.text_gflop)},
      {"head_gflop", val(r.head_gflop)},
      {"effective_gflops", val(r.effective_gflops)},
      {"peak_ratio", val(r.peak_ratio)},
      {"speedup_vs_dense", opt(r.speedup_vs_dense)},
      {"flops_ratio_vs_dense", opt(r.flops_ratio_vs_dense)},
      {"speedup_efficiency", opt(r.speedup_efficiency)},
      {"peak_rss_mb", ok && r.peak_rss_mb >= 0 ? json(r.peak_rss_mb) : json(nullptr)},
      {"weights_mb", val(r.weights_mb)},
      {"kv_cache_mb", val(r.kv_cache_mb)},
      {"rss_ratio", ok && r.peak_rss_mb >= 0 ? json(r.rss_ratio) : json(nullptr)},
      {"full_depth_weights_mb", val(r.full_depth_weights_mb)},
      {"full_depth_kv_cache_mb", val(r.full_depth_kv_cache_mb)},
      {"extrapolated_full_depth_rss_ratio",
       ok && r.peak_rss_mb >= 0 ? json(r.extrapolated_full_depth_rss_ratio) : json(nullptr)},
      {"extrapolated_full_depth_prefill_ms", val(r.extrapolated_full_depth_prefill_ms)},
      {"extrapolated_full_depth_gflop", val(r.extrapolated_full_depth_gflop)},
      {"extrapolation_approximate", ok ? json(r.extrapolation_approximate) : json(nullptr)},
      {"predicted_full_depth_gflop", opt(r.predicted_full_depth_gflop)},
      {"extrapolated_full_depth_decode_tok_s", opt(r.extrapolated_full_depth_decode_tok_s)},
      {"extrapolated_speedup_vs_dense", opt(r.extrapolated_speedup_vs_dense)},
      {"extrapolated_flops_ratio_vs_dense", opt(r.extrapolated_flops_ratio_vs_dense)},
  };
  if (!r.note.empty()) j["note"] = r.note;
  if (ok) {
    j["prefill_stages"] = stages_json(r.prefill_stages);
    if (r.decode_stages) j["decode_stages"] = stages_json(*r.decode_stages);
  }
  return j;
}

std::string pct(double ratio) {
  return fixed(100.0 * ratio, 1) + "%";
}
std::string optx(const std::optional<double>& v, int d = 2) {
  return v ? fixed(*v, d) + "x" : "-";
}

std::string series_name(const MethodResult& r) {
  return r.semantics == "n/a" ? r.method : r.method + " (" + r.semantics + ")";
}

}  // namespace

nlohmann::json report_to_json(const BenchReport& r) {
  const BenchSetup& s = r.setup;
  json j;
  j["gemm_peak_gflops"] = r.peak.gflops;  // int8: GOP/s
  j["gemm_peak_unit"] = s.dtype == "int8" ? "GOP/s" : "GFLOP/s";
  j["gemm_peak_bf16_gflops"] = r.peak_bf16 ? json(r.peak_bf16->gflops) : json(nullptr);
  if (r.int8_logit_diff) {
    const Int8LogitDiff& d = *r.int8_logit_diff;
    j["int8_logit_diff"] = {{"rel_diff", d.rel_diff},
                            {"max_abs_diff", d.max_abs_diff},
                            {"max_abs_logit", d.max_abs_logit},
                            {"prompt_rows", d.prompt_rows},
                            {"argmax_agree", d.argmax_agree},
                            {"greedy_steps", d.greedy_steps},
                            {"greedy_same_prefix", d.greedy_same_prefix},
                            {"model",
                             {{"dim", d.dim},
                              {"layers", d.layers},
                              {"heads", d.heads},
                              {"head_dim", d.head_dim},
                              {"ffn", d.ffn},
                              {"vocab", d.vocab}}}};
  } else {
    j["int8_logit_diff"] = nullptr;
  }
  j["gemm_peak"] = {{"m", r.peak.shape.m},       {"k", r.peak.shape.k},
                    {"n", r.peak.shape.n},       {"dtype", s.dtype},
                    {"threads", r.peak.threads}, {"reps", r.peak.reps},
                    {"best_ms", r.peak.best_ms}, {"median_ms", r.peak.median_ms}};
  j["setup"] = {
      {"shape", s.shape},
      {"dtype", s.dtype},
      {"threads", s.threads},
      {"omp_proc_bind", s.omp_proc_bind},
      {"omp_places", s.omp_places},
      {"avx512_bf16", s.avx512_bf16},
      {"reps", s.reps},
      {"decode_steps", s.decode_steps},
      {"layers", s.layers},
      {"full_layers", s.full_layers},
      {"prefix_tokens", s.prefix_tokens},
      {"suffix_tokens", s.suffix_tokens},
      {"grid", s.grid},
      {"seed", s.seed},
      {"peak_rss_per_method", s.rss_reset},
      {"baseline_rss_mb", s.baseline_rss_mb >= 0 ? json(s.baseline_rss_mb) : json(nullptr)}};
  j["results"] = json::array();
  for (const MethodResult& m : r.results) j["results"].push_back(result_json(m));
  if (r.vision) {
    const VisionResult& v = *r.vision;
    j["vision"] = {{"tower", v.tower},
                   {"layers_run", v.layers_run},
                   {"layers_full", v.layers_full},
                   {"ms", v.total_ms.median},
                   {"ms_min", v.total_ms.min},
                   {"ms_max", v.total_ms.max},
                   {"tower_ms", summary_json(v.tower_ms)},
                   {"projector_ms", summary_json(v.projector_ms)},
                   {"gflop", v.gflop},
                   {"tower_gflop", v.tower_gflop},
                   {"projector_gflop", v.projector_gflop},
                   {"effective_gflops", v.effective_gflops},
                   {"peak_ratio", v.peak_ratio},
                   {"extrapolated_full_ms", v.extrapolated_full_ms},
                   {"weights_mb", v.weights_mb},
                   {"peak_rss_mb", v.peak_rss_mb >= 0 ? json(v.peak_rss_mb) : json(nullptr)}};
  } else {
    j["vision"] = nullptr;
  }
  j["sweep_visual_tokens"] = r.sweep_tokens;
  j["attention_sweep"] = json::array();
  for (const AttentionPoint& a : r.attention_sweep)
    j["attention_sweep"].push_back({{"visual_tokens", a.visual_tokens},
                                    {"grid", a.grid},
                                    {"prefix", a.prefix},
                                    {"window_radius", a.radius},
                                    {"dense_ms", summary_json(a.dense_ms)},
                                    {"window_ms", summary_json(a.window_ms)},
                                    {"dense_gflop", a.dense_gflop},
                                    {"window_gflop", a.window_gflop},
                                    {"dense_us_per_visual_token", a.dense_us_per_token()},
                                    {"window_us_per_visual_token", a.window_us_per_token()}});
  j["targets"] = json::array();
  for (const TargetCheck& t : evaluate_targets(r))
    j["targets"].push_back({{"name", t.name},
                            {"subject", t.subject},
                            {"value", t.value},
                            {"target", t.target},
                            {"higher_is_better", t.higher_is_better},
                            {"met", t.met()}});
  j["notes"] = r.notes;
  return j;
}

std::string report_to_text(const BenchReport& r, bool show_stages) {
  const BenchSetup& s = r.setup;
  std::ostringstream os;
  os << "yopo bench: " << s.shape << " decoder, " << s.layers << " of " << s.full_layers
     << " layers built and run (random " << s.dtype << " weights, seed " << s.seed << ")";
  if (s.layers < s.full_layers) os << "; full-depth columns are EXTRAPOLATED";
  os << "\nprompt: " << s.prefix_tokens << " text + " << s.grid << "x" << s.grid << " visual + "
     << s.suffix_tokens << " text tokens; " << s.reps << " reps (median [min-max]); "
     << s.decode_steps << " greedy decode steps\n";
  os << "threads: " << s.threads
     << " (OMP_PROC_BIND=" << (s.omp_proc_bind.empty() ? "unset" : s.omp_proc_bind)
     << " OMP_PLACES=" << (s.omp_places.empty() ? "unset" : s.omp_places)
     << "), AVX512-BF16: " << (s.avx512_bf16 ? "yes" : "no");
  if (s.baseline_rss_mb >= 0)
    os << "; process RSS before building the decoder: " << fixed(s.baseline_rss_mb, 0) << " MiB";
  os << "\n";
  os << "GEMM peak (ops::matmul " << r.peak.shape.m << "x" << r.peak.shape.k << "x"
     << r.peak.shape.n << " " << s.dtype << ", best of " << r.peak.reps
     << "): " << fixed(r.peak.gflops, 1) << (s.dtype == "int8" ? " GOP/s" : " GFLOP/s") << "\n";
  if (r.peak_bf16)
    os << "GEMM peak bf16 (same shape, for the vision path): " << fixed(r.peak_bf16->gflops, 1)
       << " GFLOP/s; int8 / bf16 = " << fixed(r.peak.gflops / r.peak_bf16->gflops, 2) << "x\n";
  if (r.int8_logit_diff) {
    const Int8LogitDiff& d = *r.int8_logit_diff;
    os << "int8 vs bf16 logits (tiny random model d" << d.dim << " x " << d.layers << " layers, "
       << d.prompt_rows << " prompt rows): max |diff| / max |logit| = " << fixed(d.rel_diff, 4)
       << "; argmax agrees on " << d.argmax_agree << "/" << d.prompt_rows << " rows; greedy "
       << d.greedy_same_prefix << "/" << d.greedy_steps << " leading tokens equal\n";
  }
  os << "\n";

  TextTable t({"method", "sem", "visual", "prefill ms", "min-max", "GFLOP", "GFLOP/s", "peak",
               "speed-up", "FLOP ratio", "eff", "decode t/s", "RSS MiB", "RSS/(W+KV)",
               "full RSS/(W+KV)", "full-depth ms (extrap.)", "full speed-up", "full FLOP ratio"});
  for (const MethodResult& m : r.results) {
    if (m.status != "ok") {
      t.add_row({m.method, m.semantics, std::to_string(m.visual_tokens), m.status, "-", "-", "-",
                 "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"});
      continue;
    }
    t.add_row(
        {m.method, m.semantics, std::to_string(m.visual_tokens), fixed(m.prefill_ms.median, 1),
         fixed(m.prefill_ms.min, 1) + "-" + fixed(m.prefill_ms.max, 1), fixed(m.executed_gflop, 1),
         fixed(m.effective_gflops, 1), pct(m.peak_ratio), optx(m.speedup_vs_dense),
         optx(m.flops_ratio_vs_dense), m.speedup_efficiency ? pct(*m.speedup_efficiency) : "-",
         m.decode_tok_s ? fixed(*m.decode_tok_s, 2) : "-",
         m.peak_rss_mb >= 0 ? fixed(m.peak_rss_mb, 0) : "-",
         m.peak_rss_mb >= 0 ? fixed(m.rss_ratio, 3) : "-",
         m.peak_rss_mb >= 0 ? fixed(m.extrapolated_full_depth_rss_ratio, 3) : "-",
         fixed(m.extrapolated_full_depth_prefill_ms, 0) + (m.extrapolation_approximate ? "~" : ""),
         optx(m.extrapolated_speedup_vs_dense), optx(m.extrapolated_flops_ratio_vs_dense)});
  }
  os << t.render();
  os << "speed-up and FLOP ratio: against dense at the same visual token count; eff = speed-up "
        "/ FLOP ratio; peak = effective GFLOP/s / GEMM peak; ~ = approximate extrapolation "
        "(fewer built layers than runs of distinct layer plans)\n";

  bool any_decode = false;
  for (const MethodResult& m : r.results) any_decode = any_decode || m.decode_tok_s.has_value();
  if (any_decode) {
    TextTable d(
        {"method", "sem", "decode tok/s (built layers)", "decode tok/s full depth (extrap.)"});
    for (const MethodResult& m : r.results)
      if (m.decode_tok_s)
        d.add_row({m.method, m.semantics, fixed(*m.decode_tok_s, 2),
                   m.extrapolated_full_depth_decode_tok_s
                       ? fixed(*m.extrapolated_full_depth_decode_tok_s, 2)
                       : "-"});
    os << "\n" << d.render();
  }

  if (show_stages) {
    std::vector<std::string> head = {"method", "sem", "visual"};
    for (size_t st = 0; st < size_t(Stage::Count); ++st) head.push_back(stage_name(Stage(st)));
    head.push_back("total");
    TextTable p(head);
    for (const MethodResult& m : r.results) {
      if (m.status != "ok") continue;
      std::vector<std::string> row = {m.method, m.semantics, std::to_string(m.visual_tokens)};
      for (size_t st = 0; st < size_t(Stage::Count); ++st)
        row.push_back(fixed(m.prefill_stages.stage_ms[st], 1));
      row.push_back(fixed(m.prefill_stages.total_ms, 1));
      p.add_row(row);
    }
    os << "\nprefill time by stage (ms, all built layers, median repetition):\n" << p.render();
  }

  if (r.vision) {
    const VisionResult& v = *r.vision;
    os << "\nvision: " << v.tower << " " << v.layers_run << " layers + mlp2x_gelu projector, one "
       << "336 px image: " << fixed(v.total_ms.median, 1) << " ms [" << fixed(v.total_ms.min, 1)
       << "-" << fixed(v.total_ms.max, 1) << "] (tower " << fixed(v.tower_ms.median, 1)
       << ", projector " << fixed(v.projector_ms.median, 1) << "), " << fixed(v.gflop, 1)
       << " GFLOP, " << fixed(v.effective_gflops, 1) << " GFLOP/s = " << pct(v.peak_ratio)
       << " of peak";
    if (v.layers_run != v.layers_full)
      os << "; " << v.layers_full << " layers: " << fixed(v.extrapolated_full_ms, 1)
         << " ms (extrapolated)";
    os << "\n";
  }

  if (!r.attention_sweep.empty()) {
    TextTable a({"visual", "grid", "dense ms", "window ms", "dense us/token", "window us/token",
                 "window vs first"});
    const double base = r.attention_sweep.front().window_us_per_token();
    for (const AttentionPoint& p : r.attention_sweep)
      a.add_row({std::to_string(p.visual_tokens), std::to_string(p.grid),
                 fixed(p.dense_ms.median, 2), fixed(p.window_ms.median, 2),
                 fixed(p.dense_us_per_token(), 2), fixed(p.window_us_per_token(), 2),
                 fixed(p.window_us_per_token() / base, 2) + "x"});
    os << "\nattention of the visual queries, one layer (" << r.attention_sweep.front().prefix
       << " text keys before the image; window radius " << r.attention_sweep.front().radius
       << "):\n"
       << a.render();
  }
  if (s.layers < s.full_layers) {
    os << "\nbuilt layers run the plans of these real layers (runs of identical layer plans x "
          "built layers per run):\n";
    for (const MethodResult& m : r.results) {
      if (m.status != "ok" || m.visual_tokens != r.results.front().visual_tokens) continue;
      os << "  " << series_name(m) << ": ";
      for (size_t i = 0; i < m.real_layers.size(); ++i) os << (i ? ", " : "") << m.real_layers[i];
      os << " (" << m.layer_sample << ")\n";
    }
  }
  const std::vector<TargetCheck> targets = evaluate_targets(r);
  if (!targets.empty()) {
    TextTable t({"target", "row", "value", "goal", "met"});
    for (const TargetCheck& c : targets)
      t.add_row({c.name, c.subject, fixed(c.value, 3),
                 std::string(c.higher_is_better ? ">= " : "<= ") + fixed(c.target, 2),
                 c.met() ? "yes" : "NO"});
    os << "\ntargets (measured on the built layers):\n" << t.render();
  }
  for (const std::string& n : r.notes) os << "note: " << n << "\n";
  return os.str();
}

std::string sweep_csv(const BenchReport& r) {
  std::string out = csv_line({"series", "method", "semantics", "visual_tokens", "grid", "layers",
                              "ms_median", "ms_min", "ms_max", "us_per_visual_token"});
  for (const MethodResult& m : r.results) {
    if (m.status != "ok") continue;
    out +=
        csv_line({"prefill", m.method, m.semantics, std::to_string(m.visual_tokens),
                  std::to_string(m.grid), std::to_string(m.layers), fixed(m.prefill_ms.median, 3),
                  fixed(m.prefill_ms.min, 3), fixed(m.prefill_ms.max, 3),
                  fixed(m.prefill_ms.median * 1e3 / double(m.visual_tokens), 3)});
  }
  for (const AttentionPoint& p : r.attention_sweep) {
    for (int w = 0; w < 2; ++w) {
      const Summary& s = w ? p.window_ms : p.dense_ms;
      out += csv_line({w ? "attention_window" : "attention_dense", w ? "window" : "causal", "n/a",
                       std::to_string(p.visual_tokens), std::to_string(p.grid), "1",
                       fixed(s.median, 3), fixed(s.min, 3), fixed(s.max, 3),
                       fixed(s.median * 1e3 / double(p.visual_tokens), 3)});
    }
  }
  return out;
}

std::string sweep_svg(const BenchReport& r) {
  check(!r.attention_sweep.empty() || r.results.size() > 1, "the report has no sweep to draw");
  LineChart prefill;
  prefill.title = "Prefill time, " + std::to_string(r.setup.layers) + " of " +
                  std::to_string(r.setup.full_layers) + " layers of " + r.setup.shape;
  prefill.x_label = "visual tokens";
  prefill.y_label = "prefill ms (median)";
  std::map<std::string, size_t> index;
  for (const MethodResult& m : r.results) {
    if (m.status != "ok") continue;
    const std::string name = series_name(m);
    auto it = index.find(name);
    if (it == index.end()) {
      it = index.emplace(name, prefill.series.size()).first;
      Series s;
      s.name = name;
      s.dashed = m.semantics == "fast";
      prefill.series.push_back(s);
    }
    prefill.series[it->second].points.push_back({double(m.visual_tokens), m.prefill_ms.median});
  }
  std::vector<LineChart> charts;
  if (!prefill.series.empty()) charts.push_back(prefill);
  if (!r.attention_sweep.empty()) {
    LineChart att;
    att.title = "Attention of the visual queries, one layer";
    att.x_label = "visual tokens";
    att.y_label = "us per visual token (median)";
    Series d, w;
    d.name = "dense causal";
    w.name = "window r=" + std::to_string(r.attention_sweep.front().radius);
    for (const AttentionPoint& p : r.attention_sweep) {
      d.points.push_back({double(p.visual_tokens), p.dense_us_per_token()});
      w.points.push_back({double(p.visual_tokens), p.window_us_per_token()});
    }
    att.series = {d, w};
    charts.push_back(att);
  }
  return render_svg(charts);
}

}  // namespace yopo::bench
