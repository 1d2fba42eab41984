#include "runtime/bench/gemm_peak.h"

#include <string>
#include <vector>

#include "core/error.h"
#include "ops/matmul.h"
#include "runtime/bench/random_fill.h"
#include "runtime/bench/stats.h"
#include "runtime/bench/timer.h"

namespace yopo::bench {

GemmShape parse_gemm_shape(const std::string& text) {
  GemmShape s;
  int64_t v[3] = {0, 0, 0};
  size_t at = 0;
  for (int i = 0; i < 3; ++i) {
    size_t used = 0;
    try {
      v[i] = std::stoll(text.substr(at), &used);
    } catch (const std::exception&) {
      fail("GEMM shape '", text, "' must be MxKxN, e.g. 576x4096x11008");
    }
    at += used;
    const bool last = i == 2;
    check(last ? at == text.size() : (at < text.size() && text[at] == 'x'), "GEMM shape '", text,
          "' must be MxKxN, e.g. 576x4096x11008");
    ++at;
    check(v[i] > 0, "GEMM shape '", text, "' has a non-positive size");
  }
  s.m = v[0];
  s.k = v[1];
  s.n = v[2];
  return s;
}

GemmPeak measure_gemm_peak(ops::Context& ctx, const GemmShape& s, DType dtype, int reps) {
  check(reps >= 1, "GEMM peak: at least one repetition is needed");
  const ops::WeightMatrix w = random_weight_matrix(s.n, s.k, dtype, 0x9e11);
  std::vector<float> x(size_t(s.m * s.k)), y(size_t(s.m * s.n));
  fill_uniform(x.data(), s.m * s.k, 0x9e12, 1.0f);
  auto run = [&] { ops::matmul(ctx, x.data(), s.m, s.k, w.full(), y.data(), s.n); };
  run();
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    Stopwatch t;
    run();
    ms.push_back(t.ms());
  }
  const Summary sum = summarize(ms);
  GemmPeak p;
  p.shape = s;
  p.dtype = dtype;
  p.threads = ctx.threads();
  p.reps = reps;
  p.best_ms = sum.min;
  p.median_ms = sum.median;
  p.gflops = s.flops() / (sum.min * 1e6);
  return p;
}

}  // namespace yopo::bench
