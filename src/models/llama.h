// The LLaMA decoder: batched prefill and token-by-token decode over a KV cache.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "models/kv_cache.h"
#include "models/llama_config.h"
#include "models/llama_weights.h"
#include "models/token_layout.h"
#include "ops/context.h"
#include "ops/rope.h"

namespace yopo {

// Called with every named intermediate tensor when set (for comparison with a reference):
// name, layer (-1 outside layers), rows x cols floats with row stride ld.
using DebugHook = std::function<void(const char* name, int64_t layer, const float* data,
                                     int64_t rows, int64_t cols, int64_t ld)>;

// One forward call's input: n new rows appended after the cache's current contents.
struct DecoderBatch {
  const float* embeddings = nullptr;  // [n, dim] input rows
  int64_t n = 0;
  const int32_t* positions = nullptr;  // RoPE position of each row
  const TokenLayout* layout = nullptr; // visual rows of this batch (indices into the batch)
  bool all_logits = false;             // logits of every row, else of the last row only
};

class LlamaModel {
 public:
  LlamaModel(LlamaConfig cfg, LlamaWeights w);

  const LlamaConfig& config() const { return cfg_; }
  const LlamaWeights& weights() const { return w_; }
  KvCache make_cache(int64_t capacity) const;

  // Embedding rows of token ids into out [n, dim]; ids out of range throw.
  void embed(const int32_t* ids, int64_t n, float* out) const;
  // Runs the batch, appends its keys/values to the cache and returns logits
  // ([n, vocab] or [1, vocab], row-major).
  std::vector<float> forward(ops::Context& ctx, KvCache& cache, const DecoderBatch& batch,
                             const DebugHook& hook = nullptr) const;

 private:
  void layer_forward(ops::Context& ctx, KvCache& cache, int64_t l, float* x, int64_t n,
                     const int32_t* pos, const DebugHook& hook) const;

  LlamaConfig cfg_;
  LlamaWeights w_;
  ops::Rope rope_;
};

}  // namespace yopo
