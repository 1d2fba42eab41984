// The machine's matrix-product peak as the engine reaches it: ops::matmul (oneDNN above the
// small-M threshold) on one large product, with the thread count and dtype of the benchmark.
// Benchmarks report their own throughput as a ratio to this figure, measured in the same run.
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "ops/context.h"

namespace yopo::bench {

struct GemmShape {
  int64_t m = 576, k = 4096, n = 11008;  // default: 576 visual rows through a 7B FFN up-projection
  double flops() const { return 2.0 * double(m) * double(k) * double(n); }
};

// "MxKxN", e.g. "576x4096x11008"; throws yopo::Error on anything else or non-positive sizes.
GemmShape parse_gemm_shape(const std::string& text);

struct GemmPeak {
  GemmShape shape;
  DType dtype = DType::BF16;
  int threads = 0;
  int reps = 0;
  double best_ms = 0;
  double median_ms = 0;
  double gflops = 0;  // of the best repetition
};

// One untimed warm-up (primitive creation, page faults), then `reps` timed products
// (y = x * W^T with random x and W); the best one gives the peak.
GemmPeak measure_gemm_peak(ops::Context& ctx, const GemmShape& shape, DType dtype, int reps);

}  // namespace yopo::bench
