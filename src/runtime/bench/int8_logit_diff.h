// The accuracy side of the int8 weight mode: a tiny random LLaMA decoder built twice from the
// same seeded float weights, once in bf16 and once in int8 (projections per-row int8, embedding
// and head bf16), run on the same prompt; the report says how far the int8 logits are from the
// bf16 ones and whether greedy decoding picks the same tokens.
#pragma once

#include <cstdint>

namespace yopo::bench {

struct Int8LogitDiff {
  // The tiny model: dim, layers, heads x head_dim, FFN, vocab.
  int64_t dim = 0, layers = 0, heads = 0, head_dim = 0, ffn = 0, vocab = 0;
  int64_t prompt_rows = 0;         // logits of every prompt row are compared
  double max_abs_diff = 0;         // max |logit_int8 - logit_bf16| over all of them
  double max_abs_logit = 0;        // max |logit_bf16|
  double rel_diff = 0;             // max_abs_diff / max_abs_logit
  int64_t argmax_agree = 0;        // prompt rows whose argmax is the same (of prompt_rows)
  int64_t greedy_steps = 0;        // greedy decode steps run from the prompt by each model
  int64_t greedy_same_prefix = 0;  // leading greedy tokens that are equal
};

// Builds the two models (seeded), runs prefill with all logits and greedy decode.
Int8LogitDiff measure_int8_logit_diff(int threads, uint64_t seed);

}  // namespace yopo::bench
