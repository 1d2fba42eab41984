#include "prune/budget_match.h"

#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "prune/presets.h"
#include "prune/token_flops.h"
#include "prune/token_spec.h"

namespace yopo {

namespace {

std::string fmt(const char* f, double a, double b = 0) {
  char buf[128];
  std::snprintf(buf, sizeof buf, f, a, b);
  return buf;
}

double fastv_convention(const ModelShape& s, const TokenSchedule& sch) {
  const double d = double(s.d), m = double(s.m);
  double t = 0;
  for (int64_t v : sch.visual_rows) t += 4 * v * d * d + 2 * double(v) * v * d + 2 * v * d * m;
  return t;
}

BudgetMatch describe(const std::string& method, const std::string& spec, const ModelShape& s,
                     int64_t n_visual, int64_t text_after) {
  BudgetMatch b;
  b.method = method;
  b.spec = spec;
  const TokenPruning tp = parse_token_spec(spec, s.n_layers);
  const VisualFlopsReport r = paper_token_flops(s, tp, n_visual, text_after);
  b.paper_flops = r.total;
  b.paper_fraction = r.fraction;
  const TokenSchedule sch = token_schedule(tp, n_visual, s.n_layers);
  if (method == "sparsevlm") {
    double avg = 0;
    for (int64_t v : sch.visual_rows) avg += double(v) / double(s.n_layers);
    b.own_convention = "average visual tokens per layer";
    b.own_value = avg;
    b.own_fraction = avg / double(n_visual);
  } else {
    const TokenSchedule dense = token_schedule(TokenPruning{}, n_visual, s.n_layers);
    b.own_convention = "FastV formula (4nd^2+2n^2d+2ndm per layer)";
    b.own_value = fastv_convention(s, sch);
    b.own_fraction = b.own_value / fastv_convention(s, dense);
  }
  return b;
}

// The largest x in [lo, hi] with fits(x) (fits monotone: true below some threshold).
template <class F>
double largest(double lo, double hi, F fits) {
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    (fits(mid) ? lo : hi) = mid;
  }
  return lo;
}

}  // namespace

std::vector<BudgetMatch> match_budget(const ModelShape& s, double fraction, int64_t n_visual,
                                      int64_t text_after) {
  check(fraction > 0 && fraction <= 1, "budget ", fraction, " must be a share in (0, 1]");
  const double dense = paper_token_flops(s, TokenPruning{}, n_visual, text_after).dense_total;
  const double budget = fraction * dense;
  auto paper = [&](const std::string& spec) {
    return paper_token_flops(s, parse_token_spec(spec, s.n_layers), n_visual, text_after).total;
  };
  std::vector<BudgetMatch> out;

  // FastV, K = 2: the most kept tokens within the budget.
  int64_t keep = 0;
  for (int64_t k = n_visual; k >= 0; --k) {
    const std::string spec = "fastv:K=2,R=" + fmt("%.17g", 1.0 - double(k) / double(n_visual));
    if (paper(spec) <= budget) {
      keep = k;
      break;
    }
  }
  out.push_back(describe("fastv",
                         "fastv:K=2,R=" + fmt("%.6f", 1.0 - double(keep) / double(n_visual)), s,
                         n_visual, text_after));

  // PyramidDrop at L/4, L/2, 3L/4 (8/16/24 for 32 layers); when even lambda -> 0 does not fit,
  // the stages move earlier (f, 2f, 3f with f < L/4), as the authors do for small budgets.
  std::string best;
  for (int64_t f = std::lround(s.n_layers / 4.0); f >= 1 && best.empty(); --f) {
    const std::string layers =
        std::to_string(f) + "/" + std::to_string(2 * f) + "/" + std::to_string(3 * f);
    auto pdrop = [&](double lambda) {
      return "pdrop:layers=" + layers + ",lambda=" + fmt("%.4f", std::floor(lambda * 1e4) / 1e4);
    };
    if (paper(pdrop(1e-4)) > budget) continue;
    best = pdrop(largest(1e-4, 1, [&](double x) { return paper(pdrop(x)) <= budget; }));
  }
  check(!best.empty(), "no PyramidDrop setting meets a ", fraction, " budget");
  out.push_back(describe("pdrop", best, s, n_visual, text_after));

  // SparseVLM after layers 2/6/15 (scaled to the depth), the 192 list scaled.
  const int64_t base[3] = {300, 200, 110};
  auto sparse = [&](double f) {
    std::string keep_s;
    int64_t prev = n_visual;
    for (int i = 0; i < 3; ++i) {
      int64_t k = std::max<int64_t>(1, std::lround(f * double(base[i])));
      k = std::min(k, prev - 1);  // each stage keeps fewer than the one before
      prev = k;
      if (i) keep_s += '/';
      keep_s += std::to_string(k);
    }
    return "sparsevlm:layers=2/6/15,keep=" + keep_s;
  };
  const double f = largest(0, 1.9, [&](double x) {
    try {
      return paper(sparse(std::floor(x * 1e3) / 1e3)) <= budget;
    } catch (const Error&) {
      return false;
    }
  });
  out.push_back(describe("sparsevlm", sparse(std::floor(f * 1e3) / 1e3), s, n_visual, text_after));

  // YOPO's preset for the budget.
  const std::string preset = fraction >= 0.2 ? "yopo-25" : "yopo-12";
  const PruningPlan yp = make_preset(preset, s, PruneSemantics::Fast);
  const int64_t grid = std::lround(std::sqrt(double(n_visual)));
  const VisualFlopsReport yr = paper_visual_flops(s, yp, n_visual, grid);
  BudgetMatch y;
  y.method = "yopo";
  y.spec = preset;
  y.paper_flops = yr.total;
  y.paper_fraction = yr.fraction;
  y.own_convention = "paper convention (the same)";
  y.own_value = yr.total;
  y.own_fraction = yr.fraction;
  out.push_back(y);
  return out;
}

}  // namespace yopo
