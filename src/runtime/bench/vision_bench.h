// Timing the LLaVA-1.5 image path for one image: CLIP ViT-L/14-336 tower (the layers LLaVA runs)
// and the mlp2x_gelu projector, with the FLOPs they execute.
#pragma once

#include <cstdint>

#include "models/clip_vit.h"
#include "models/projector.h"
#include "runtime/bench/stats.h"

namespace yopo::bench {

// FLOPs the tower executes for n_images images with n_run layers, in the convention of
// models/flop_counter.h (2*M*N*K per product; attention 4*head_dim per (query, key, head);
// norms, biases, activations free): the patch embedding (a [patches, C*p*p] x [C*p*p, d]
// product) plus per layer the Q, K, V, O projections, full attention over the n_positions
// rows (class token included) and the two FFN products.
double clip_tower_flops(const ClipVisionConfig& cfg, int64_t n_run, int64_t n_images = 1);
// FLOPs of the projector on `rows` rows: 2*rows*(in*hidden + hidden*out).
double projector_flops(const MlpProjector& p, int64_t rows);

struct VisionRunResult {
  int64_t layers_run = 0;
  Summary tower_ms, projector_ms, total_ms;
  double tower_gflop = 0, projector_gflop = 0;
  double weight_bytes = 0;
  int64_t peak_rss_kib = -1;
};

// Times `reps` encodes of one random 336 px image (after one untimed warm-up): the tower,
// dropping the class token, the projector.
VisionRunResult run_vision(const ClipVisionTower& tower, const MlpProjector& projector, int threads,
                           int reps, uint64_t seed);

}  // namespace yopo::bench
