// A seeded tiny random LLaMA decoder for model tests: its float weights, the engine model built
// from them, prompt layouts with one image, and a naive reference forward pass (plain loops in
// double, no engine kernels) that implements YOPO visual pruning plans in both semantics, as
// ../shared/docs/yopo-method.md defines them.
#pragma once

#include <cstdint>
#include <vector>

#include "models/llama.h"
#include "models/llama_config.h"
#include "models/pruning_plan.h"
#include "models/token_layout.h"

namespace yopo::test {

// Deterministic random numbers (splitmix64), independent of the standard library's
// distributions so that the models are the same everywhere.
class TestRng {
 public:
  explicit TestRng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  double uniform();          // [0, 1)
  double normal();           // N(0, 1)
  int64_t below(int64_t n);  // [0, n)

 private:
  uint64_t state_;
};

struct RandomLlamaSpec {
  int64_t dim = 64;
  int64_t n_heads = 4;
  int64_t n_kv_heads = 4;
  int64_t head_dim = 16;
  int64_t n_layers = 3;
  int64_t ffn_dim = 96;
  int64_t vocab = 97;
  uint64_t seed = 1;
};

struct RandomLlamaLayer {
  std::vector<float> attn_norm, ffn_norm;  // [dim]
  std::vector<float> wq;                   // [n_heads * head_dim, dim]
  std::vector<float> wk, wv;               // [n_kv_heads * head_dim, dim]
  std::vector<float> wo;                   // [dim, n_heads * head_dim]
  std::vector<float> w_gate, w_up;         // [ffn, dim]
  std::vector<float> w_down;               // [dim, ffn]
};

// All weights as float32, PyTorch Linear layout (rows = output features). Weight scales keep
// hidden states, attention scores and logits O(1).
struct RandomLlama {
  LlamaConfig cfg;
  std::vector<float> embedding;    // [vocab, dim], N(0, 1)
  std::vector<float> output_norm;  // [dim]
  std::vector<float> output;       // [vocab, dim] (not tied)
  std::vector<RandomLlamaLayer> layers;

  // The engine's weights (F32 or BF16 copies of the above).
  LlamaWeights engine_weights(DType dtype = DType::F32) const;
  LlamaModel engine_model(DType dtype = DType::F32) const;
  // Embedding row of token id (the float32 values above).
  const float* embedding_row(int32_t id) const { return &embedding[size_t(id * cfg.dim)]; }
};

RandomLlama make_random_llama(const RandomLlamaSpec& spec);

// A prompt: `prefix` text rows, one image of grid_rows x grid_cols visual rows (row-major), then
// `suffix` text rows.
struct PromptShape {
  int64_t prefix = 5;
  int64_t grid_rows = 6;
  int64_t grid_cols = 6;
  int64_t suffix = 4;

  int64_t total() const { return prefix + grid_rows * grid_cols + suffix; }
  TokenLayout layout() const;
};

// Embeddings of a prompt [shape.total(), dim]: text rows are embedding rows of random token ids,
// image rows random N(0, 1) vectors.
std::vector<float> random_prompt(const RandomLlama& m, const PromptShape& shape, uint64_t seed);
// The same for any layout of n rows.
std::vector<float> random_embeddings(const RandomLlama& m, const TokenLayout& layout, int64_t n,
                                     uint64_t seed);

// The naive reference forward pass over a whole sequence (no KV cache): rows at positions
// 0..n-1, visual rows as `layout` says, pruned as `plan` says (nullptr: dense). Returns
// [n, vocab] logits in double; rows that the fast semantics removed from the sequence hold NaN.
//
// Exact: additive mask (causal; inside an image with a window: the square window, later
// neighbours included), softmax, then in pruned heads the probabilities on visual keys are set to
// 0 for every query (no renormalization) and visual query rows get output 0; visual rows'
// gate/up outputs beyond ffn_width are 0. Layers with visual_active == false prune every head.
// Fast: as exact, except that in pruned heads text queries attend over non-visual keys only
// (renormalized) and visual queries get 0, and visual rows leave the sequence from the first
// layer with visual_active == false on (the others keep their positions).
std::vector<double> reference_logits(const RandomLlama& m, const float* embeddings, int64_t n,
                                     const TokenLayout& layout, const PruningPlan* plan);

// Plain-loop building blocks of the naive references (double precision):
// out[r] = sum_c W[r, c] * x[c] for W [rows, cols] (float).
void matvec(const std::vector<float>& w, int64_t rows, int64_t cols, const double* x, double* out);
void rms_norm(const double* x, const std::vector<float>& w, int64_t d, double eps, double* out);
// HF "rotate_half" RoPE of one head vector at position pos (float32 frequencies and angles as HF).
void rope(double* v, int64_t hd, int64_t pos, double theta);

// Index of the largest value of row r of a [rows, cols] matrix (first one on ties).
int32_t argmax_row(const std::vector<double>& logits, int64_t cols, int64_t r);

}  // namespace yopo::test
