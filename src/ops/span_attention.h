// Attention over arbitrary per-query runs of KV-cache rows, with per-head treatment of visual
// keys: the kernel behind YOPO pruning (pruned heads, windowed visual attention). A query's cost
// is proportional to the keys in its spans, so windowed visual attention is linear in the
// number of visual tokens.
#pragma once

#include <cstdint>

#include "ops/attention.h"
#include "ops/context.h"

namespace yopo::ops {

// A run of cache rows [begin, end) that a query may attend; visual = the rows are visual tokens.
struct KeySpan {
  int32_t begin, end;
  uint8_t visual;
};

// How a head treats visual keys.
enum class VisualKeys : uint8_t {
  Live,      // ordinary attention over every span
  Dead,      // YOPO exact: visual keys stay in the softmax denominator but get weight 0
  Excluded,  // YOPO fast: visual keys are left out of the softmax entirely (renormalized)
};

struct SpanAttentionArgs {
  const float* q = nullptr;  // n_q rows of n_heads * head_dim, row stride ldq
  int64_t n_q = 0, ldq = 0;
  const float* k = nullptr;  // cache rows of n_kv_heads * head_dim, row stride ldkv
  const float* v = nullptr;
  int64_t ldkv = 0;
  AttentionShape shape{};  // GQA: head h uses KV head h / (n_heads / n_kv_heads)
  float scale = 1.0f;
  // Keys of query i: spans[span_offsets[i] .. span_offsets[i + 1]); per query the spans are
  // sorted and non-overlapping (begin <= end, each begin >= the previous end) and hold at least
  // one key. Empty spans are allowed and ignored.
  const int32_t* span_offsets = nullptr;
  const KeySpan* spans = nullptr;
  // Per head: treatment of visual keys (nullptr = all Live).
  const VisualKeys* head_mode = nullptr;
  // Per query: 1 when the query itself is a visual token. For a visual query every head whose
  // mode is not Live is skipped and its output is 0.
  const uint8_t* visual_query = nullptr;  // nullptr = none are visual
  float* out = nullptr;  // n_q rows of n_heads * head_dim, row stride ldo; must not overlap q/k/v
  int64_t ldo = 0;
  // Number of cache rows when known (>= 0): every span must then end at or before it.
  int64_t n_kv = -1;
};

// Per (query i, head h), with S = the keys in i's spans and p = softmax(scale * q . k):
//   visual query and mode != Live: out = 0;
//   Live:     p over all of S, out = sum_j p_j v_j;
//   Dead:     p over all of S, out = sum over the non-visual j of p_j v_j (not renormalized);
//   Excluded: p over the non-visual keys of S only, out = sum_j p_j v_j.
// Dead and Excluded give 0 when S has no non-visual key. Throws yopo::Error on bad arguments.
void attention_spans(Context& ctx, const SpanAttentionArgs& a);

// What attention_spans computes, counted per (query, head, key): `scores` products q . k (each
// 2 * head_dim FLOPs) and `value_terms` rows of V added with their weight (each 2 * head_dim).
// Live: |S| and |S|; Dead: |S| and the non-visual count; Excluded: the non-visual count twice;
// skipped pairs and Dead/Excluded pairs without a non-visual key: 0. (The kernel may evaluate
// a few extra products that it then masks, when it shares key loads between queries; those
// are not counted.) Validates like attention_spans; does not read q, k, v or out.
struct SpanAttentionWork {
  double scores = 0;
  double value_terms = 0;
};
SpanAttentionWork attention_spans_work(const SpanAttentionArgs& a);

}  // namespace yopo::ops
