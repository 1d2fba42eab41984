#include "runtime/bench/vision_bench.h"

#include <cstring>
#include <vector>

#include "core/error.h"
#include "ops/context.h"
#include "runtime/bench/process_memory.h"
#include "runtime/bench/random_fill.h"
#include "runtime/bench/timer.h"

namespace yopo::bench {

double clip_tower_flops(const ClipVisionConfig& c, int64_t n_run, int64_t n_images) {
  const double d = double(c.dim), m = double(c.ffn_dim), rows = double(c.n_positions()),
               patches = double(c.n_patches()),
               k = double(c.channels * c.patch_size * c.patch_size);
  const double embed = 2.0 * patches * k * d;
  const double layer = 2.0 * rows * d * d * 4.0     // q, k, v, o
                       + 4.0 * rows * rows * d      // scores and weighted values, all heads
                       + 2.0 * rows * d * m * 2.0;  // fc1, fc2
  return double(n_images) * (embed + double(n_run) * layer);
}

double projector_flops(const MlpProjector& p, int64_t rows) {
  return 2.0 * double(rows) *
         (double(p.w1.cols) * double(p.w1.rows) + double(p.w2.cols) * double(p.w2.rows));
}

VisionRunResult run_vision(const ClipVisionTower& tower, const MlpProjector& projector, int threads,
                           int reps, uint64_t seed) {
  check(reps >= 1, "at least one repetition is needed, not ", reps);
  const ClipVisionConfig& c = tower.config();
  check(projector.in_dim() == c.dim, "projector input ", projector.in_dim(),
        " does not match the vision width ", c.dim);
  ops::Context ctx(threads);
  ops::OmpThreadScope omp_scope(ctx.threads());
  VisionRunResult r;
  r.layers_run = tower.layers_run();
  const int64_t side = c.image_size, np = c.n_patches(), d = c.dim;
  std::vector<float> pixels(size_t(c.channels * side * side));
  fill_uniform(pixels.data(), int64_t(pixels.size()), seed, 1.8f);
  std::vector<float> patches(size_t(np * d));
  std::vector<double> tower_ms, proj_ms, total_ms;
  release_free_heap();
  reset_peak_rss();
  for (int rep = -1; rep < reps; ++rep) {
    Stopwatch t;
    const std::vector<float> hidden = tower.encode(ctx, pixels.data(), 1);
    std::memcpy(patches.data(), hidden.data() + d, size_t(np * d) * sizeof(float));
    const double t_tower = t.ms();
    const std::vector<float> rows = projector.forward(ctx, patches.data(), np, d);
    const double t_all = t.ms();
    if (rep < 0) continue;
    tower_ms.push_back(t_tower);
    proj_ms.push_back(t_all - t_tower);
    total_ms.push_back(t_all);
  }
  r.tower_ms = summarize(tower_ms);
  r.projector_ms = summarize(proj_ms);
  r.total_ms = summarize(total_ms);
  r.tower_gflop = clip_tower_flops(c, tower.layers_run()) / 1e9;
  r.projector_gflop = projector_flops(projector, np) / 1e9;
  r.peak_rss_kib = read_process_memory().hwm_kib;
  return r;
}

}  // namespace yopo::bench
