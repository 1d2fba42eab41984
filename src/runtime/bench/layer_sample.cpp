#include "runtime/bench/layer_sample.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"

namespace yopo::bench {

namespace {

bool head_kept(const LayerPlan& p, size_t h) {
  return p.head_keep.empty() || p.head_keep[h];
}

}  // namespace

bool same_layer_plan(const LayerPlan& a, const LayerPlan& b) {
  if (a.visual_active != b.visual_active || a.ffn_width != b.ffn_width ||
      a.window_radius != b.window_radius)
    return false;
  const size_t heads = std::max(a.head_keep.size(), b.head_keep.size());
  for (size_t h = 0; h < heads; ++h)
    if (head_kept(a, h) != head_kept(b, h)) return false;
  return true;
}

std::vector<LayerRun> plan_runs(const PruningPlan& full, int64_t n_layers) {
  check(n_layers >= 1, "a model needs at least one layer");
  check(full.layers.empty() || int64_t(full.layers.size()) == n_layers, "plan '", full.name,
        "' has ", full.layers.size(), " layers, the model ", n_layers);
  if (full.tokens.active()) {  // token pruning: runs end where visual rows leave
    std::vector<LayerRun> runs{{0, n_layers}};
    for (const TokenStage& st : full.tokens.stages) {
      if (st.layer <= runs.back().first || st.layer >= n_layers) continue;
      const int64_t end = runs.back().first + runs.back().count;
      runs.back().count = st.layer - runs.back().first;
      runs.push_back({st.layer, end - st.layer});
    }
    return runs;
  }
  if (full.layers.empty()) return {{0, n_layers}};
  std::vector<LayerRun> runs;
  for (int64_t l = 0; l < n_layers; ++l) {
    if (!runs.empty() &&
        same_layer_plan(full.layers[size_t(runs.back().first)], full.layers[size_t(l)])) {
      ++runs.back().count;
    } else {
      runs.push_back({l, 1});
    }
  }
  return runs;
}

bool LayerSample::complete() const {
  for (int64_t s : slots)
    if (s == 0) return false;
  return true;
}

LayerSample sample_layers(const PruningPlan& full, int64_t n_layers, int64_t n) {
  check(n >= 1 && n <= n_layers, "layers to run must be between 1 and ", n_layers, ", not ", n);
  LayerSample s;
  s.full_layers = n_layers;
  s.runs = plan_runs(full, n_layers);
  const int64_t k = int64_t(s.runs.size());
  s.slots.assign(size_t(k), 0);
  if (n >= k) {
    std::fill(s.slots.begin(), s.slots.end(), 1);
  } else {
    std::vector<int64_t> order(static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) order[size_t(j)] = j;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return s.runs[size_t(a)].count > s.runs[size_t(b)].count;
    });
    for (int64_t t = 0; t < n; ++t) s.slots[size_t(order[size_t(t)])] = 1;
  }
  int64_t given = std::min(n, k);
  while (given < n) {
    int64_t best = -1;
    double best_gap = 0;
    for (int64_t j = 0; j < k; ++j) {
      const LayerRun& r = s.runs[size_t(j)];
      if (s.slots[size_t(j)] >= r.count) continue;
      const double gap =
          double(n) * double(r.count) / double(n_layers) - double(s.slots[size_t(j)]);
      if (best < 0 || gap > best_gap) {
        best = j;
        best_gap = gap;
      }
    }
    ++s.slots[size_t(best)];  // a run with room exists since n <= n_layers
    ++given;
  }
  for (int64_t j = 0; j < k; ++j) {
    const LayerRun& r = s.runs[size_t(j)];
    const int64_t m = s.slots[size_t(j)];
    for (int64_t t = 0; t < m; ++t) {
      s.real_layer.push_back(r.first + int64_t((double(t) + 0.5) * double(r.count) / double(m)));
      s.run_of.push_back(j);
    }
  }
  return s;
}

PruningPlan sampled_plan(const PruningPlan& full, const LayerSample& s) {
  PruningPlan p;
  p.name = full.name;
  p.semantics = full.semantics;
  if (full.tokens.active()) {  // each stage acts before the first built layer of its run
    p.tokens = full.tokens;
    p.tokens.stages.clear();
    for (const TokenStage& st : full.tokens.stages)
      for (size_t b = 0; b < s.real_layer.size(); ++b)
        if (s.real_layer[b] >= st.layer) {
          if (b > 0 && (p.tokens.stages.empty() || p.tokens.stages.back().layer < int64_t(b))) {
            TokenStage t = st;
            t.layer = int64_t(b);
            p.tokens.stages.push_back(t);
          }
          break;
        }
    return p;
  }
  if (full.layers.empty()) return p;
  for (int64_t l : s.real_layer) p.layers.push_back(full.layers[size_t(l)]);
  return p;
}

Extrapolated extrapolate(const LayerSample& s, const std::vector<double>& built_layer_cost,
                         double outside, const std::vector<double>& reference) {
  check(built_layer_cost.size() == s.real_layer.size(), "extrapolation: ", built_layer_cost.size(),
        " layer costs for ", s.real_layer.size(), " built layers");
  const size_t k = s.runs.size();
  std::vector<double> sum(k, 0.0), mean(k, 0.0);
  std::vector<int64_t> seen(k, 0);
  for (size_t i = 0; i < built_layer_cost.size(); ++i) {
    sum[size_t(s.run_of[i])] += built_layer_cost[i];
    ++seen[size_t(s.run_of[i])];
  }
  for (size_t j = 0; j < k; ++j)
    if (seen[j]) mean[j] = sum[j] / double(seen[j]);
  Extrapolated e;
  e.total = outside;
  for (size_t j = 0; j < k; ++j) {
    double per_layer = mean[j];
    if (!seen[j]) {
      e.approximate = true;
      check(reference.size() == size_t(s.full_layers), "extrapolation: run at layer ",
            s.runs[j].first, " was not sampled and no reference costs were given");
      const double rj = reference[size_t(s.runs[j].first)];
      size_t best = k;
      double best_d = 0;
      for (size_t i = 0; i < k; ++i) {
        if (!seen[i]) continue;
        const double ri = reference[size_t(s.runs[i].first)];
        const double dist = (ri > 0 && rj > 0) ? std::abs(std::log(ri / rj)) : std::abs(ri - rj);
        if (best == k || dist < best_d) {
          best = i;
          best_d = dist;
        }
      }
      check(best < k, "extrapolation: no layer was sampled");
      const double rb = reference[size_t(s.runs[best].first)];
      per_layer = rb > 0 ? mean[best] * rj / rb : mean[best];
    }
    e.total += per_layer * double(s.runs[j].count);
  }
  return e;
}

std::string describe_sample(const LayerSample& s) {
  std::ostringstream os;
  for (size_t j = 0; j < s.runs.size(); ++j) {
    const LayerRun& r = s.runs[j];
    if (j) os << ", ";
    os << r.first;
    if (r.count > 1) os << "-" << (r.first + r.count - 1);
    os << " x" << s.slots[j];
  }
  return os.str();
}

}  // namespace yopo::bench
