// The oneDNN side of ops::matmul and ops::matmul_int8 (internal to ops/): y[M, N] (+)= x[M, K] *
// W^T as a cached oneDNN matmul primitive whose memory objects are pointed at each call's buffers.
#pragma once

#include "ops/context.h"

namespace yopo::ops {

// The primitive for key from ctx's cache, built on first use: x and W in key.dtype (F32, BF16, or
// I8 as s8), y in f32, a sum post-op when key.accumulate. nullptr when oneDNN has no
// implementation for the key or only its reference one (far slower than the engine's kernels).
MatmulPrimitive* onednn_primitive(Context& ctx, const MatmulKey& key);

// Runs p (built for key) on these buffers. Throws yopo::Error naming the product when oneDNN
// reports an error.
void run_onednn(Context& ctx, MatmulPrimitive& p, const MatmulKey& key, const void* x,
                const void* w, float* y);

}  // namespace yopo::ops
