// Plain scalar reference of attention_spans (ops/span_attention.h), for the unit tests.
#pragma once

#include <cstdint>

#include "ops/span_attention.h"

namespace yopo::ops::ref {

// Per (query, head), in double: the explicit score vector over all n_kv cache rows (-inf for
// rows outside the query's spans), softmax, then visual entries multiplied by 0 (Dead) or
// dropped and the rest renormalized (Excluded); out = weights . V. Visual queries get 0 from
// heads that are not Live, as do Dead/Excluded heads when no non-visual key is left. Writes
// only the n_heads * head_dim leading floats of each output row. No argument validation.
void attention_spans(const SpanAttentionArgs& a, int64_t n_kv);

}  // namespace yopo::ops::ref
