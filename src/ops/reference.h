// Plain scalar reference versions of the kernels, written for clarity, not speed; the unit
// tests compare the fast kernels against them.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/attention.h"
#include "ops/rope.h"
#include "ops/weights.h"

namespace yopo::ops::ref {

// y = x * W^T in double; BF16 weights: x rounded to bf16 first (nearest even).
void matmul(const float* x, int64_t M, int64_t ldx, const WeightView& w, float* y, int64_t ldy,
            bool accumulate = false);

void rms_norm(const float* x, int64_t rows, int64_t dim, int64_t ldx, const float* weight,
              float eps, float* y, int64_t ldy);
void layer_norm(const float* x, int64_t rows, int64_t dim, int64_t ldx, const float* w,
                const float* b, float eps, float* y, int64_t ldy);

// HF's inverse frequencies (head_dim / 2 of them, float32) for a scaling at a sequence length.
std::vector<float> rope_inv_freq(int64_t head_dim, double theta, const RopeScaling& scaling,
                                 int64_t max_position, int64_t seq_len);
// Rotates x in place pair by pair (i, i + head_dim / 2) from the formula.
void rope(float* x, int64_t rows, int64_t n_heads, int64_t head_dim, int64_t ld, const int32_t* pos,
          double theta, const RopeScaling& scaling, int64_t max_position, int64_t seq_len);

void silu_mul(const float* gate, const float* up, float* out, int64_t n);
void gelu_erf(float* x, int64_t n);
void gelu_quick(float* x, int64_t n);
void softmax(float* x, int64_t n);

// Explicit score matrix per head, explicit mask (causal: key j visible to query i when
// j <= q_start + i), softmax, weighted sum of values; all in double.
void attention(const float* q, int64_t n_q, int64_t ldq, int64_t q_start, const float* k,
               const float* v, int64_t n_kv, int64_t ldkv, const AttentionShape& s, float scale,
               float* out, int64_t ldo, bool causal = true);

}  // namespace yopo::ops::ref
