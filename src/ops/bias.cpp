#include "ops/bias.h"

#include "ops/activations.h"

namespace yopo::ops {

void add_bias_rows(Context& ctx, float* y, int64_t rows, int64_t cols, int64_t ld, const float* b) {
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) y[r * ld + c] += b[c];
}

void add_bias_gelu_rows(Context& ctx, float* y, int64_t rows, int64_t cols, const float* b,
                        bool quick) {
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    float* row = y + r * cols;
    for (int64_t c = 0; c < cols; ++c) row[c] += b[c];
    if (quick) {
      gelu_quick(row, cols);
    } else {
      gelu_erf(row, cols);
    }
  }
}

}  // namespace yopo::ops
