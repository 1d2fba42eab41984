#include "ops/norm.h"

#include <cmath>

#include "core/error.h"

namespace yopo::ops {

namespace {
void check_rows(const char* what, const float* x, int64_t rows, int64_t dim, int64_t ldx,
                const float* y, int64_t ldy) {
  check(rows >= 0 && dim > 0, what, ": bad shape ", rows, " x ", dim);
  check(ldx >= dim && ldy >= dim, what, ": row strides ", ldx, ", ", ldy, " are below dim ", dim);
  check(rows == 0 || (x && y), what, ": null input or output");
}
}  // namespace

void rms_norm(Context& ctx, const float* x, int64_t rows, int64_t dim, int64_t ldx,
              const float* weight, float eps, float* y, int64_t ldy) {
  check_rows("rms_norm", x, rows, dim, ldx, y, ldy);
  check(rows == 0 || weight, "rms_norm: null weight");
#pragma omp parallel for num_threads(ctx.threads()) schedule(static) if (rows >= kNormParallelRows)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ldx;
    float* yr = y + r * ldy;
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < dim; ++i) ss += xr[i] * xr[i];
    const float inv = 1.0f / std::sqrt(ss / float(dim) + eps);
#pragma omp simd
    for (int64_t i = 0; i < dim; ++i) yr[i] = weight[i] * (xr[i] * inv);
  }
}

void layer_norm(Context& ctx, const float* x, int64_t rows, int64_t dim, int64_t ldx,
                const float* w, const float* b, float eps, float* y, int64_t ldy) {
  check_rows("layer_norm", x, rows, dim, ldx, y, ldy);
  check(rows == 0 || w, "layer_norm: null weight");
#pragma omp parallel for num_threads(ctx.threads()) schedule(static) if (rows >= kNormParallelRows)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ldx;
    float* yr = y + r * ldy;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < dim; ++i) sum += xr[i];
    const float mean = sum / float(dim);
    float var = 0.0f;
#pragma omp simd reduction(+ : var)
    for (int64_t i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    const float rstd = 1.0f / std::sqrt(var / float(dim) + eps);
    if (b) {
#pragma omp simd
      for (int64_t i = 0; i < dim; ++i) yr[i] = (xr[i] - mean) * rstd * w[i] + b[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < dim; ++i) yr[i] = (xr[i] - mean) * rstd * w[i];
    }
  }
}

}  // namespace yopo::ops
