// Keys (after RoPE) and values of every layer for the tokens seen so far.
#pragma once

#include <cstdint>
#include <vector>

#include "core/error.h"

namespace yopo {

class KvCache {
 public:
  KvCache(int64_t n_layers, int64_t capacity, int64_t kv_dim)
      : n_layers_(n_layers), capacity_(capacity), kv_dim_(kv_dim),
        k_(size_t(n_layers * capacity * kv_dim)), v_(k_.size()) {
    check(n_layers > 0 && capacity > 0 && kv_dim > 0, "KV cache sizes must be positive");
  }

  float* k(int64_t layer, int64_t row = 0) { return &k_[offset(layer, row)]; }
  float* v(int64_t layer, int64_t row = 0) { return &v_[offset(layer, row)]; }
  const float* k(int64_t layer, int64_t row = 0) const { return &k_[offset(layer, row)]; }
  const float* v(int64_t layer, int64_t row = 0) const { return &v_[offset(layer, row)]; }

  int64_t size() const { return size_; }          // tokens committed
  int64_t capacity() const { return capacity_; }
  int64_t row_stride() const { return kv_dim_; }
  int64_t n_layers() const { return n_layers_; }
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

  // Throws when n more tokens do not fit.
  void reserve_rows(int64_t n) const {
    check(size_ + n <= capacity_, "context is full: ", size_, " + ", n, " tokens exceed the ",
          capacity_, "-token KV cache (raise the context size)");
  }
  void commit(int64_t n) { size_ += n; }
  void clear() { size_ = 0; }

 private:
  size_t offset(int64_t layer, int64_t row) const {
    return size_t((layer * capacity_ + row) * kv_dim_);
  }
  int64_t n_layers_, capacity_, kv_dim_;
  int64_t size_ = 0;
  std::vector<float> k_, v_;
};

}  // namespace yopo
