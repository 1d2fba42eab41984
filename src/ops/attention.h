// Multi-head attention with grouped KV heads (GQA) over a KV cache, softmax in f32.
#pragma once

#include <cstdint>

#include "ops/context.h"

namespace yopo::ops {

struct AttentionShape {
  int64_t n_heads, n_kv_heads, head_dim;  // n_heads a multiple of n_kv_heads
};

// q: n_q rows of n_heads * head_dim (row stride ldq); k, v: n_kv rows of
// n_kv_heads * head_dim (row stride ldkv); query head h uses KV head h / (n_heads / n_kv_heads).
// Query i attends keys j in [0, q_start + i] (causal; q_start = cache index of the first query;
// q_start + n_q <= n_kv). out: n_q rows of n_heads * head_dim (row stride ldo); it must not
// overlap q, k or v. scale is usually 1 / sqrt(head_dim).
void attention_causal(Context& ctx, const float* q, int64_t n_q, int64_t ldq, int64_t q_start,
                      const float* k, const float* v, int64_t n_kv, int64_t ldkv,
                      const AttentionShape& s, float scale, float* out, int64_t ldo);

// The argument checks both kernels share (head shape, sizes, row strides); throws yopo::Error.
void check_attention_args(const AttentionShape& s, int64_t n_q, int64_t ldq, int64_t n_kv,
                          int64_t ldkv, int64_t ldo);

// As attention_causal without the mask: every query attends all n_kv keys (vision towers).
void attention_full(Context& ctx, const float* q, int64_t n_q, int64_t ldq, const float* k,
                    const float* v, int64_t n_kv, int64_t ldkv, const AttentionShape& s,
                    float scale, float* out, int64_t ldo);

}  // namespace yopo::ops
