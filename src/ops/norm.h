// Normalizations over rows of floats. y may equal x (in place).
#pragma once

#include <cstdint>

#include "ops/context.h"

namespace yopo::ops {

// Inputs with fewer rows than this run on the calling thread; larger ones split their rows over
// ctx's threads. Each row is computed by the same code either way, so the result does not depend
// on the thread count.
inline constexpr int64_t kNormParallelRows = 16;

// RMSNorm as HF LlamaRMSNorm in f32: y = (x * rsqrt(mean(x^2) + eps)) * weight.
// rows of dim floats, row strides ldx, ldy >= dim.
void rms_norm(Context& ctx, const float* x, int64_t rows, int64_t dim, int64_t ldx,
              const float* weight, float eps, float* y, int64_t ldy);

// LayerNorm: y = (x - mean) / sqrt(var + eps) * w + b (biased variance). b may be null.
void layer_norm(Context& ctx, const float* x, int64_t rows, int64_t dim, int64_t ldx,
                const float* w, const float* b, float eps, float* y, int64_t ldy);

}  // namespace yopo::ops
