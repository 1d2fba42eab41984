// Element-wise activations and softmax, vectorized (AVX2) with a scalar fallback.
#pragma once

#include <cstdint>

namespace yopo::ops {

// out = silu(gate) * up = gate / (1 + exp(-gate)) * up. out may equal gate or up.
void silu_mul(const float* gate, const float* up, float* out, int64_t n);
// In place: exact GELU, 0.5 x (1 + erf(x / sqrt(2))).
void gelu_erf(float* x, int64_t n);
// In place: x * sigmoid(1.702 x) (CLIP's QuickGELU).
void gelu_quick(float* x, int64_t n);
// In place: exp(x - max) / sum. n >= 1 with at least one finite entry.
void softmax_inplace(float* x, int64_t n);
// In place: exp(x); about 1 ulp, overflow to inf, gradual underflow, NaN kept.
void exp_inplace(float* x, int64_t n);

}  // namespace yopo::ops
