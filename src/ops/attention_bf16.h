// Full (non-causal) multi-head attention whose two products run as bf16 matrix products
// (oneDNN, f32 accumulation), for vision towers whose weights are bf16 anyway.
#pragma once

#include <cstdint>

#include "ops/attention.h"
#include "ops/context.h"

namespace yopo::ops {

// The arguments and result of attention_full, computed as
//   s = scale * bf16(q_h) . bf16(k_h)^T,  p = softmax(s) in f32,  out_h = bf16(p) . bf16(v_h)
// (bf16() rounds to nearest even). Against exact attention on bf16-rounded q, k, v the output
// differs by at most about 2^-9 * max |v| (the rounding of p) plus f32 summation error.
// Uses ctx's Attention scratch. Throws yopo::Error on bad shapes or strides.
void attention_full_bf16(Context& ctx, const float* q, int64_t n_q, int64_t ldq, const float* k,
                         const float* v, int64_t n_kv, int64_t ldkv, const AttentionShape& s,
                         float scale, float* out, int64_t ldo);

}  // namespace yopo::ops
