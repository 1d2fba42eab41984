// The forms `yopo bench` writes its report in: JSON (llama-bench style, machine-readable),
// Markdown tables for the terminal, the sweep as CSV and as an SVG figure.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "runtime/bench/bench_report.h"

namespace yopo::bench {

// Top level: "gemm_peak_gflops", "gemm_peak", "setup", "results" (one object per row: method,
// semantics, visual_tokens, layers, prefill_ms, prefill_ms_min, prefill_ms_max, decode_tok_s,
// executed_gflop, effective_gflops, peak_ratio, speedup_vs_dense, flops_ratio_vs_dense,
// peak_rss_mb, extrapolated_full_depth_prefill_ms and more; null where a figure does not
// exist), "vision", "attention_sweep", "notes".
nlohmann::json report_to_json(const BenchReport& r);

// Everything for the terminal: setup lines, the GEMM peak, the results table, the vision line,
// the attention sweep table and the notes.
std::string report_to_text(const BenchReport& r, bool show_stages);

// The sweep as CSV, one line per measurement:
//   series,method,semantics,visual_tokens,grid,layers,ms_median,ms_min,ms_max,us_per_visual_token
// series "prefill" (rows of r.results, whole prompt through the built layers) or
// "attention_dense" / "attention_window" (the visual queries of one layer).
std::string sweep_csv(const BenchReport& r);

// Two charts: prefill time per method against visual tokens, and attention time per visual
// token (dense vs windowed). Throws when the report has no sweep.
std::string sweep_svg(const BenchReport& r);

}  // namespace yopo::bench
