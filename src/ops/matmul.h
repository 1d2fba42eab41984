// Matrix products against weight matrices: y = x * W^T.
#pragma once

#include <cstdint>

#include "ops/context.h"
#include "ops/weights.h"

namespace yopo::ops {

// Up to this many rows of x the product runs in the engine's own kernel (memory-bound
// decode-like shapes); above it, in oneDNN. The default of Context::matmul_small_m().
inline constexpr int64_t kMatmulSmallM = 4;

// y[M,N] = x[M,K] * W^T (accumulate: y += ...) with W = w [N,K]. Row strides ldx >= K,
// ldy >= N. BF16 weights: x is rounded to bf16 (nearest even) and the products accumulate in
// f32 (as oneDNN bf16:bf16:f32). The AVX512-BF16 paths treat bf16 subnormals as zero.
// I8 weights (with per-row scales): x is quantized per row to int8, see ops/matmul_int8.h.
// Throws yopo::Error on bad shapes, strides or dtypes.
void matmul(Context& ctx, const float* x, int64_t M, int64_t ldx, const WeightView& w, float* y,
            int64_t ldy, bool accumulate = false);

}  // namespace yopo::ops
