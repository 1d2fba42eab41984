// Running a few decoder layers to stand for a whole model. A full-depth plan (one LayerPlan per
// real layer) is cut into runs of consecutive identical layer plans; the N layers that are
// built each take the plan of one real layer, chosen so that every run is represented (when N
// allows) in proportion to its length and in the original order (so that fast-semantics row
// dropping happens in the same place relative to the runs). Full-depth figures are then
// extrapolated run by run: each real layer costs what the sampled layers of its run cost.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/pruning_plan.h"

namespace yopo::bench {

// Whether two layer plans make a layer do the same work (an empty head list = all heads kept).
bool same_layer_plan(const LayerPlan& a, const LayerPlan& b);

struct LayerRun {
  int64_t first = 0;  // first real layer
  int64_t count = 0;  // real layers in the run
};

// Maximal runs of identical layer plans over n_layers real layers (an empty plan: one run).
std::vector<LayerRun> plan_runs(const PruningPlan& full, int64_t n_layers);

struct LayerSample {
  int64_t full_layers = 0;
  std::vector<LayerRun> runs;
  std::vector<int64_t> slots;       // per run: sampled layers (0 when N < runs: not sampled)
  std::vector<int64_t> real_layer;  // per built layer: the real layer whose plan it runs
  std::vector<int64_t> run_of;      // per built layer: its run
  bool complete() const;            // every run has a sampled layer
};

// Slots: every run gets one (when n >= runs; otherwise the n longest runs, earlier first on
// ties), the rest go one by one to the run furthest below its proportional share n*count/L
// (earlier first on ties), never more than a run's length. Within a run the sampled real layers
// are spread evenly: first + floor((t + 1/2) * count / slots). Throws unless
// 1 <= n <= n_layers.
LayerSample sample_layers(const PruningPlan& full, int64_t n_layers, int64_t n);

// The plan of the n built layers (named and with the semantics of `full`; empty when full is).
PruningPlan sampled_plan(const PruningPlan& full, const LayerSample& s);

// Full-depth cost from per-built-layer costs: sum over runs of count * (mean cost of the run's
// sampled layers) + outside (work outside the layers). For a run without a sampled layer its
// cost is estimated from the sampled run whose per-layer `reference` cost (e.g. predicted
// FLOPs, one value per real layer) is nearest, scaled by the ratio of the reference costs;
// `approximate` tells whether that happened.
struct Extrapolated {
  double total = 0;
  bool approximate = false;
};
Extrapolated extrapolate(const LayerSample& s, const std::vector<double>& built_layer_cost,
                         double outside, const std::vector<double>& reference = {});

// "runs 0-1 x1, 2-15 x1, 16-31 x2" for messages.
std::string describe_sample(const LayerSample& s);

}  // namespace yopo::bench
