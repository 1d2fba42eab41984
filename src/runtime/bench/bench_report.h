// What `yopo bench` measured: the GEMM peak, one row per (method, semantics, visual token
// count), the vision path and the attention-kernel sweep. Filled by runtime/bench/bench_runner.h,
// written by bench_json.h, bench_table.h, bench_csv.h and core/svg_plot.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/bench/attention_bench.h"
#include "runtime/bench/gemm_peak.h"
#include "runtime/bench/int8_logit_diff.h"
#include "runtime/bench/stage_timer.h"
#include "runtime/bench/stats.h"

namespace yopo::bench {

struct MethodResult {
  std::string method;         // "dense", "yopo-25", "fastv", ...
  std::string semantics;      // "exact", "fast" or "n/a"
  std::string status = "ok";  // "ok" or "not implemented"
  std::string note;
  int64_t visual_tokens = 0, grid = 0, prompt_tokens = 0;
  int64_t layers = 0, full_layers = 0;  // built and run / of the real model
  std::string layer_sample;             // runs of the full plan and built layers per run
  std::vector<int64_t> real_layers;     // per built layer: the real layer whose plan it runs

  // Measured on the built layers (prefill of the whole prompt, logits of the last row).
  Summary prefill_ms;
  std::optional<double> decode_tok_s;  // median over repetitions; none in sweep rows
  double executed_gflop = 0;           // FlopCounter total of one prefill
  double visual_gflop = 0, text_gflop = 0, head_gflop = 0;
  double effective_gflops = 0;                 // executed_gflop / median prefill time
  double peak_ratio = 0;                       // effective_gflops / gemm_peak_gflops
  std::optional<double> speedup_vs_dense;      // dense median time / this median time
  std::optional<double> flops_ratio_vs_dense;  // dense executed FLOPs / these
  std::optional<double> speedup_efficiency;    // speedup / FLOPs ratio (target >= 0.9)

  // Memory: VmHWM during this method's runs, against weights + KV cache.
  double peak_rss_mb = -1, weights_mb = 0, kv_cache_mb = 0;
  double rss_ratio = 0;  // peak_rss_mb / (weights_mb + kv_cache_mb)
  // The same at full depth: the peak less the built weights and cache plus the full ones (the
  // decoder's activations do not grow with the layer count).
  double full_depth_weights_mb = 0, full_depth_kv_cache_mb = 0;
  double extrapolated_full_depth_rss_ratio = 0;

  // Full-depth figures extrapolated from the built layers (layer_sample).
  double extrapolated_full_depth_prefill_ms = 0;
  double extrapolated_full_depth_gflop = 0;
  bool extrapolation_approximate = false;  // a run of layers was not sampled (too few layers)
  std::optional<double> predicted_full_depth_gflop;  // prune/flops_model.h, when it applies
  std::optional<double> extrapolated_full_depth_decode_tok_s;
  std::optional<double> extrapolated_speedup_vs_dense, extrapolated_flops_ratio_vs_dense;

  StageBreakdown prefill_stages;                // of the median repetition
  std::optional<StageBreakdown> decode_stages;  // mean per decode step
};

struct VisionResult {
  std::string tower = "CLIP ViT-L/14-336";
  int64_t layers_run = 0, layers_full = 0;  // built and run / LLaVA's 23
  Summary tower_ms, projector_ms, total_ms;
  double gflop = 0, tower_gflop = 0, projector_gflop = 0;
  double effective_gflops = 0, peak_ratio = 0;
  double extrapolated_full_ms = 0;  // tower scaled to layers_full by FLOPs (identical layers)
  double weights_mb = 0, peak_rss_mb = -1;
};

struct BenchSetup {
  std::string shape;
  std::string dtype;
  int threads = 0;
  std::string omp_proc_bind, omp_places;  // as the process saw them ("" = unset)
  bool avx512_bf16 = false;
  int reps = 0;
  int64_t decode_steps = 0;
  int64_t layers = 0, full_layers = 0;
  int64_t prefix_tokens = 0, suffix_tokens = 0, grid = 0;
  uint64_t seed = 0;
  bool rss_reset = false;       // whether VmHWM could be reset per method
  double baseline_rss_mb = -1;  // VmRSS just before the decoder was built (process baseline)
};

// One of the performance targets, evaluated on a report.
struct TargetCheck {
  std::string name;     // "dense prefill / GEMM peak"
  std::string subject;  // which row: "dense, 576 visual", "yopo-12 (fast), 576 visual"
  double value = 0;
  double target = 0;
  bool higher_is_better = true;
  bool met() const { return higher_is_better ? value >= target : value <= target; }
};

struct BenchReport {
  BenchSetup setup;
  GemmPeak peak;  // in the benchmark's dtype (int8: GOP/s of int8 products)
  // --dtype int8 only: the bf16 peak too (the vision path stays bf16 and is rated against it),
  // and the int8 logits' difference from bf16 on a tiny model.
  std::optional<GemmPeak> peak_bf16;
  std::optional<Int8LogitDiff> int8_logit_diff;
  std::vector<MethodResult> results;
  std::optional<VisionResult> vision;
  std::vector<AttentionPoint> attention_sweep;
  std::vector<int64_t> sweep_tokens;  // visual token counts asked for (rows use grid^2)
  std::vector<std::string> notes;
};

// The targets: dense prefill >= 70% of the GEMM peak; vision >= 60%; every pruned row's
// speed-up >= 90% of its FLOPs ratio; windowed attention time per visual token at the largest
// sweep size within 20% of the first; peak RSS <= 1.15 x (weights + KV cache) for every row.
// Rows without the figure are left out.
std::vector<TargetCheck> evaluate_targets(const BenchReport& r);

}  // namespace yopo::bench
