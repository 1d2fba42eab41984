// The prefill/decode loop: feeds the prompt, then samples tokens one at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "models/llama.h"
#include "ops/context.h"
#include "runtime/sampler.h"

namespace yopo {

struct GenerationStats {
  int64_t prompt_tokens = 0;      // decoder rows of the prompt, image rows included
  int64_t visual_tokens = 0;
  int64_t generated_tokens = 0;
  double prompt_ms = 0;  // prefill, including the first token's logits
  double decode_ms = 0;  // all decode steps
  double prompt_tok_s() const { return prompt_ms > 0 ? prompt_tokens * 1e3 / prompt_ms : 0; }
  double decode_tok_s() const {
    return decode_ms > 0 ? (generated_tokens - 1) * 1e3 / decode_ms : 0;
  }
};

struct GenerationRequest {
  std::vector<int32_t> prompt;  // token ids, BOS included when wanted; kImageMarker: an image
  // Rows that replace the image markers, in order: [markers * rows_per_image, decoder dim],
  // each image a grid_rows x grid_cols grid in row-major order.
  const float* image_rows = nullptr;
  int64_t rows_per_image = 0, grid_rows = 0, grid_cols = 0;
  int64_t max_new_tokens = 128;
  int32_t eos_id = -1;  // stop token (not returned); -1: none
  const PruningPlan* plan = nullptr;  // visual-token pruning for prefill and decode
  FlopCounter* flops = nullptr;       // executed FLOPs are added here when set
  // Called after each new token; return false to stop.
  std::function<bool(int32_t)> on_token;
  // A KV cache to continue: its rows are the tokens before `prompt` (fed with the same plan),
  // and `history` holds their ids (image markers left out) for the repetition penalty; the
  // prompt takes the positions after the cache's. It must have room for the prompt and
  // max_new_tokens more rows. nullptr: a fresh cache of that size.
  KvCache* cache = nullptr;
  std::vector<int32_t> history;
};

// The prompt as decoder input rows: embeddings, positions and where the images lie.
struct PromptRows {
  std::vector<float> embeddings;  // [n, dim]
  std::vector<int32_t> positions;
  TokenLayout layout;
  int64_t n = 0;
};
PromptRows build_prompt_rows(const LlamaModel& model, const GenerationRequest& req);

class Generator {
 public:
  Generator(const LlamaModel& model, ops::Context& ctx) : model_(model), ctx_(ctx) {}
  // Returns the generated ids (without the stop token).
  std::vector<int32_t> generate(const GenerationRequest& req, Sampler& sampler,
                                GenerationStats* stats = nullptr);

 private:
  const LlamaModel& model_;
  ops::Context& ctx_;
};

}  // namespace yopo
