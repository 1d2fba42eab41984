#include "runtime/bench/stats.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace yopo::bench {

Summary summarize(const std::vector<double>& samples) {
  check(!samples.empty(), "no measurements to summarize");
  std::vector<double> v = samples;
  for (double x : v) check(!std::isnan(x), "a measurement is NaN");
  std::sort(v.begin(), v.end());
  Summary s;
  s.count = int64_t(v.size());
  const size_t mid = v.size() / 2;
  s.median = v.size() % 2 ? v[mid] : 0.5 * (v[mid - 1] + v[mid]);
  s.min = v.front();
  s.max = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / double(v.size());
  return s;
}

double relative_spread(const Summary& s) {
  return s.median != 0 ? (s.max - s.min) / s.median : 0.0;
}

}  // namespace yopo::bench
