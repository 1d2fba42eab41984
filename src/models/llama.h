// The LLaMA decoder: batched prefill and token-by-token decode over a KV cache.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "models/flop_counter.h"
#include "models/kv_cache.h"
#include "models/llama_config.h"
#include "models/llama_weights.h"
#include "models/pruning_plan.h"
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
  const int32_t* positions = nullptr;   // RoPE position of each row
  const TokenLayout* layout = nullptr;  // visual rows of this batch (indices into the batch)
  bool all_logits = false;              // logits of every row, else of the last row only
  // Visual-token pruning (nullptr or dense: the ordinary dense computation, bit for bit).
  // The same plan must be passed for every call on one cache (prefill and decode).
  const PruningPlan* plan = nullptr;
  FlopCounter* flops = nullptr;            // when set, executed FLOPs are added to it
  TokenPruneTrace* token_trace = nullptr;  // when set, token-pruning choices are recorded
};

struct DecoderRows;  // models/decoder_rows.h
struct TokenRun;     // models/llama_tokens.cpp

class LlamaModel {
 public:
  LlamaModel(LlamaConfig cfg, LlamaWeights w);

  const LlamaConfig& config() const { return cfg_; }
  const LlamaWeights& weights() const { return w_; }
  const ops::Rope& rope() const { return rope_; }
  KvCache make_cache(int64_t capacity) const;

  // Embedding rows of token ids into out [n, dim]; ids out of range throw.
  void embed(const int32_t* ids, int64_t n, float* out) const;
  // Runs the batch, appends its keys/values to the cache and returns logits
  // ([n, vocab] or [1, vocab], row-major).
  std::vector<float> forward(ops::Context& ctx, KvCache& cache, const DecoderBatch& batch,
                             const DebugHook& hook = nullptr) const;

 private:
  // The ordinary layer over every row (also used for layers a plan leaves dense).
  void dense_layer(ops::Context& ctx, KvCache& cache, int64_t l, DecoderRows& r, FlopCounter* flops,
                   const DebugHook& hook) const;
  // A layer whose visual rows follow a pruning plan (models/llama_pruned.cpp).
  void pruned_layer(ops::Context& ctx, KvCache& cache, int64_t l, DecoderRows& r,
                    const LayerPlan& lp, PruneSemantics sem, FlopCounter* flops,
                    const DebugHook& hook) const;

  // Token-pruning baselines (models/llama_tokens.cpp): checks and set-up before layer 0 (throws
  // before the cache changes), and the work at the boundary before layer l.
  void token_begin(TokenRun& t, const DecoderRows& r, const PruningPlan& plan,
                   FlopCounter* flops) const;
  void token_boundary(ops::Context& ctx, const KvCache& cache, int64_t l, DecoderRows& r,
                      TokenRun& t, std::vector<float>& final_x, FlopCounter* flops) const;

  LlamaConfig cfg_;
  LlamaWeights w_;
  ops::Rope rope_;
};

}  // namespace yopo
