// FLOPs the decoder executes, per layer, split by row kind (visual / text) and by part.
// Convention: a matrix product of [M,K] by [K,N] costs 2*M*N*K; attention costs 2*head_dim per
// (query, key, head) for the scores and 2*head_dim for the weighted sum of values; norms,
// RoPE, softmax and activations are not counted (as in the YOPO paper).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace yopo {

struct FlopParts {
  double proj = 0;  // Q, K, V and O projections
  double attn = 0;  // scores and weighted sums
  double ffn = 0;   // gate, up, down
  double total() const { return proj + attn + ffn; }
  FlopParts& operator+=(const FlopParts& o) {
    proj += o.proj;
    attn += o.attn;
    ffn += o.ffn;
    return *this;
  }
};

struct LayerFlops {
  FlopParts visual;  // work done for visual rows (as queries / projected rows)
  FlopParts text;
};

struct FlopCounter {
  std::vector<LayerFlops> layers;  // grown on demand
  double head = 0;                 // output head (logits)
  double other = 0;                // extra work outside layers (e.g. token-ranking for baselines)

  LayerFlops& layer(int64_t l) {
    if (int64_t(layers.size()) <= l) layers.resize(size_t(l + 1));
    return layers[size_t(l)];
  }
  FlopParts visual_total() const {
    FlopParts t;
    for (const LayerFlops& l : layers) t += l.visual;
    return t;
  }
  FlopParts text_total() const {
    FlopParts t;
    for (const LayerFlops& l : layers) t += l.text;
    return t;
  }
  double total() const { return visual_total().total() + text_total().total() + head + other; }
  void clear() { *this = FlopCounter(); }
};

}  // namespace yopo
