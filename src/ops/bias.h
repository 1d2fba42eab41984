// Threaded per-column bias passes over row-major activations (vision tower, projector).
#pragma once

#include <cstdint>

#include "ops/context.h"

namespace yopo::ops {

// y[r, c] += b[c] for rows of cols values, row stride ld; rows over ctx's threads.
void add_bias_rows(Context& ctx, float* y, int64_t rows, int64_t cols, int64_t ld, const float* b);

// y[r, c] = gelu(y[r, c] + b[c]) (quick: x * sigmoid(1.702 x), else the exact erf GELU), row by
// row while the row is in cache; rows of cols values (stride cols) over ctx's threads.
void add_bias_gelu_rows(Context& ctx, float* y, int64_t rows, int64_t cols, const float* b,
                        bool quick);

}  // namespace yopo::ops
