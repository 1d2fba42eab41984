#include <cmath>

#include "runtime/bench/bench_report.h"

namespace yopo::bench {

namespace {

std::string subject(const MethodResult& m) {
  std::string s = m.method;
  if (m.semantics != "n/a") s += " (" + m.semantics + ")";
  return s + ", " + std::to_string(m.visual_tokens) + " visual";
}

}  // namespace

std::vector<TargetCheck> evaluate_targets(const BenchReport& r) {
  std::vector<TargetCheck> t;
  for (const MethodResult& m : r.results)
    if (m.status == "ok" && m.method == "dense" && r.peak.gflops > 0)
      t.push_back({"prefill GFLOP/s / GEMM peak", subject(m), m.peak_ratio, 0.70, true});
  if (r.vision && r.peak.gflops > 0)
    t.push_back(
        {"vision GFLOP/s / GEMM peak", "tower + projector", r.vision->peak_ratio, 0.60, true});
  for (const MethodResult& m : r.results)
    if (m.status == "ok" && m.method != "dense" && m.speedup_efficiency)
      t.push_back({"speed-up / FLOPs ratio", subject(m), *m.speedup_efficiency, 0.90, true});
  if (r.attention_sweep.size() >= 2) {
    const AttentionPoint& a = r.attention_sweep.front();
    const AttentionPoint& b = r.attention_sweep.back();
    if (a.window_us_per_token() > 0)
      t.push_back(
          {"windowed attention time per visual token, last / first",
           std::to_string(b.visual_tokens) + " vs " + std::to_string(a.visual_tokens) + " visual",
           b.window_us_per_token() / a.window_us_per_token(), 1.20, false});
  }
  for (const MethodResult& m : r.results)
    if (m.status == "ok" && m.peak_rss_mb > 0)
      t.push_back({"peak RSS / (weights + KV cache)", subject(m), m.rss_ratio, 1.15, false});
  for (const MethodResult& m : r.results)
    if (m.status == "ok" && m.peak_rss_mb > 0 && m.layers < m.full_layers)
      t.push_back({"the same at full depth (extrapolated)", subject(m),
                   m.extrapolated_full_depth_rss_ratio, 1.15, false});
  return t;
}

}  // namespace yopo::bench
