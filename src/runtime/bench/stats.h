// Summary statistics of repeated measurements (benchmarks report the median with min and max).
#pragma once

#include <cstdint>
#include <vector>

namespace yopo::bench {

struct Summary {
  int64_t count = 0;
  double median = 0;  // of an even count: the mean of the two middle values
  double min = 0;
  double max = 0;
  double mean = 0;
};

// Throws yopo::Error when samples is empty or holds a NaN.
Summary summarize(const std::vector<double>& samples);

// Relative spread (max - min) / median; 0 when the median is 0.
double relative_spread(const Summary& s);

}  // namespace yopo::bench
