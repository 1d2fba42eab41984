// The benchmark's LLaVA prompt: vicuna_v1 text around one image, as decoder input rows.
//   prefix: BOS + system prompt + "USER: " (35 tokens with the LLaMA tokenizer: the reference's
//           sprompt_len)
//   image:  grid_rows x grid_cols visual rows in row-major order (24 x 24 = 576 for one 336 px
//           image; larger grids stand for more visual tokens)
//   suffix: "\n" + question + " ASSISTANT:" (20 tokens by default)
// Text rows are embedding rows of seeded random token ids (BOS first); visual rows are seeded
// random vectors (what the projector would output).
#pragma once

#include <cstdint>
#include <vector>

#include "models/llama.h"
#include "models/token_layout.h"

namespace yopo::bench {

struct PromptShape {
  int64_t prefix_tokens = 35;
  int64_t grid_rows = 24;
  int64_t grid_cols = 24;
  int64_t suffix_tokens = 20;

  int64_t visual_tokens() const { return grid_rows * grid_cols; }
  int64_t total() const { return prefix_tokens + visual_tokens() + suffix_tokens; }
  // The image segment [prefix_tokens, prefix_tokens + visual_tokens()).
  TokenLayout layout() const;
  // Throws yopo::Error unless the prefix holds at least BOS and the grid is not empty.
  void validate() const;
};

// The side of the smallest square grid with at least `visual_tokens` cells:
// 576 -> 24, 1152 -> 34 (1156 tokens), 2304 -> 48, 4608 -> 68 (4624 tokens).
int64_t grid_side_for(int64_t visual_tokens);

// The LLaVA prompt around a square image of `grid` x `grid` visual tokens.
PromptShape llava_prompt(int64_t grid, int64_t prefix_tokens = 35, int64_t suffix_tokens = 20);

struct PromptRows {
  PromptShape shape;
  std::vector<float> embeddings;   // [total, dim]
  std::vector<int32_t> positions;  // 0 .. total-1
  std::vector<int32_t> token_ids;  // per row: the text token id, or -1 for a visual row
  TokenLayout layout;
};

PromptRows make_prompt_rows(const LlamaModel& model, const PromptShape& shape, uint64_t seed);

}  // namespace yopo::bench
