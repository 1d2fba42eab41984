// Keys (after RoPE) and values of every layer for the rows seen so far. Layers may hold fewer
// rows than tokens were fed (pruning can remove visual rows from a layer on); each layer knows
// which of its rows are visual, in its own row coordinates.
#pragma once

#include <cstdint>
#include <vector>

#include "core/error.h"
#include "models/token_layout.h"

namespace yopo {

class KvCache {
 public:
  KvCache(int64_t n_layers, int64_t capacity, int64_t kv_dim)
      : n_layers_(n_layers), capacity_(capacity), kv_dim_(kv_dim) {
    check(n_layers > 0 && capacity > 0 && kv_dim > 0, "KV cache sizes must be positive");
    k_.resize(size_t(n_layers * capacity * kv_dim));
    v_.resize(k_.size());
    layers_.resize(size_t(n_layers));
  }

  float* k(int64_t layer, int64_t row = 0) { return &k_[offset(layer, row)]; }
  float* v(int64_t layer, int64_t row = 0) { return &v_[offset(layer, row)]; }
  const float* k(int64_t layer, int64_t row = 0) const { return &k_[offset(layer, row)]; }
  const float* v(int64_t layer, int64_t row = 0) const { return &v_[offset(layer, row)]; }

  int64_t size() const { return tokens_; }  // tokens fed so far (the next position)
  int64_t rows(int64_t layer) const { return layers_[size_t(layer)].rows; }
  // Visual segments among this layer's rows.
  const TokenLayout& visual(int64_t layer) const { return layers_[size_t(layer)].visual; }
  int64_t capacity() const { return capacity_; }
  int64_t row_stride() const { return kv_dim_; }
  int64_t n_layers() const { return n_layers_; }
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

  // Throws when n more tokens do not fit.
  void reserve_rows(int64_t n) const {
    check(tokens_ + n <= capacity_, "context is full: ", tokens_, " + ", n,
          " tokens exceed the ", capacity_, "-token KV cache (raise the context size)");
  }
  // Records that `n` rows were written to `layer` after its current rows; `segments` are the
  // visual ones among them, relative to the first new row.
  void append_rows(int64_t layer, int64_t n, const std::vector<VisualSegment>& segments) {
    Layer& L = layers_[size_t(layer)];
    for (VisualSegment s : segments) {
      s.start += L.rows;
      L.visual.images.push_back(s);
    }
    L.rows += n;
  }
  void commit_tokens(int64_t n) { tokens_ += n; }
  // Whether every layer holds a row per token (no visual rows dropped or pruned tokens), the
  // condition for truncate().
  bool uniform() const {
    for (const Layer& L : layers_)
      if (L.rows != tokens_) return false;
    return true;
  }
  // Keeps the first n tokens' rows (a prompt prefix to reuse). Throws unless uniform() and the
  // cut falls outside every visual segment.
  void truncate(int64_t n) {
    check(n >= 0 && n <= tokens_, "KV cache truncation to ", n, " of ", tokens_, " tokens");
    check(uniform(), "KV cache truncation needs a row per token in every layer");
    for (Layer& L : layers_) {
      std::vector<VisualSegment> kept;
      for (const VisualSegment& s : L.visual.images) {
        check(s.end() <= n || s.start >= n, "KV cache truncation inside an image's rows");
        if (s.end() <= n) kept.push_back(s);
      }
      L.visual.images = kept;
      L.rows = n;
    }
    tokens_ = n;
  }
  void clear() {
    tokens_ = 0;
    for (Layer& L : layers_) L = Layer();
  }

 private:
  struct Layer {
    int64_t rows = 0;
    TokenLayout visual;
  };
  size_t offset(int64_t layer, int64_t row) const {
    return size_t((layer * capacity_ + row) * kv_dim_);
  }
  int64_t n_layers_, capacity_, kv_dim_;
  int64_t tokens_ = 0;
  std::vector<float> k_, v_;
  std::vector<Layer> layers_;
};

}  // namespace yopo
