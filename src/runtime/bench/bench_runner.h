// The benchmark of `yopo bench`: builds LLaVA-1.5 components at their real shapes with seeded
// random weights and measures, in one run and with one thread setting, the engine's GEMM peak,
// the image path, and prefill + decode of a LLaVA prompt under each method (see
// docs/benchmark.md). Progress goes to `log` when set.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "models/pruning_plan.h"
#include "runtime/bench/bench_report.h"
#include "runtime/bench/gemm_peak.h"

namespace yopo::bench {

struct BenchOptions {
  std::string shape = "llava-1.5-7b";
  DType dtype = DType::BF16;   // BF16, F32, or I8 (int8 decoder projections; vision in bf16)
  int64_t layers = 4;          // decoder layers built and run
  int64_t vision_layers = 23;  // CLIP layers built and run (LLaVA runs 23 of 24)
  int threads = 0;             // 0: all
  int reps = 3;
  int64_t decode_steps = 16;
  std::vector<std::string> methods;  // empty: default_method_names()
  std::vector<PruneSemantics> semantics = {PruneSemantics::Exact, PruneSemantics::Fast};
  std::string head_mask;  // for the presets / specs that take one
  int64_t prefix_tokens = 35, suffix_tokens = 20, grid = 24;
  bool vision = true;
  bool decoder = true;  // false: only the GEMM peak and the vision path (and the sweep kernels)
  bool sweep = false;
  std::vector<int64_t> sweep_tokens = {576, 1152, 2304, 4608};
  int64_t window_radius = 2;  // of the attention-kernel sweep (YOPO's w = 5)
  GemmShape peak_shape;
  int peak_reps = 5;
  uint64_t seed = 1;
  std::ostream* log = nullptr;
};

// Throws yopo::Error on bad options (before any long work).
void validate_options(const BenchOptions& o);

BenchReport run_benchmark(const BenchOptions& o);

}  // namespace yopo::bench
