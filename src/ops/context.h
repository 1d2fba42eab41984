// The execution context of the CPU kernels: thread count, the oneDNN engine and stream, cached
// matmul primitives and reusable scratch buffers. Passed explicitly to the kernels that need it.
// A Context is not thread-safe: use one per calling thread.
#pragma once

#include <omp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include <oneapi/dnnl/dnnl.hpp>

#include "core/aligned_buffer.h"
#include "core/dtype.h"

namespace yopo::ops {

// Sets OpenMP's default team size (which oneDNN reads when it creates and runs primitives) for
// the lifetime of the object, restoring the previous value after.
class OmpThreadScope {
 public:
  explicit OmpThreadScope(int threads) : prev_(omp_get_max_threads()), set_(threads != prev_) {
    if (set_) omp_set_num_threads(threads);
  }
  ~OmpThreadScope() {
    if (set_) omp_set_num_threads(prev_);
  }
  OmpThreadScope(const OmpThreadScope&) = delete;
  OmpThreadScope& operator=(const OmpThreadScope&) = delete;

 private:
  int prev_;
  bool set_;
};

// Identifies a matmul primitive: y[M,N] (+)= x[M,K] * W^T with these strides and types.
struct MatmulKey {
  int64_t m = 0, n = 0, k = 0;
  int64_t ldx = 0, ldw = 0, ldy = 0;
  DType dtype = DType::F32;  // of x (as given to oneDNN) and W; y is always f32
  bool accumulate = false;
  int threads = 0;
  bool operator==(const MatmulKey&) const = default;
};

struct MatmulKeyHash {
  size_t operator()(const MatmulKey& k) const;
};

// A created primitive with its memory objects; the kernel points them at each call's buffers.
// ok is false when oneDNN has no implementation for the key (the caller then uses its own).
struct MatmulPrimitive {
  bool ok = false;
  dnnl::matmul prim;
  dnnl::memory src, weights, dst, scratchpad;
  size_t scratchpad_bytes = 0;
  std::unordered_map<int, dnnl::memory> args;
};

// Named scratch buffers; each is reused by the kernel that owns it.
enum class Scratch { MatmulInput, MatmulScratchpad, Attention, Count };

class Context {
 public:
  // threads <= 0: omp_get_max_threads().
  explicit Context(int threads = 0);
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int threads() const { return threads_; }

  // Whether kernels may use AVX-512 code paths (default: when the CPU supports AVX512-BF16).
  // Turning it on has no effect on a CPU without it. Lets tests cover the AVX2 paths too.
  bool avx512() const { return avx512_; }
  void set_avx512(bool on);
  static bool cpu_has_avx512_bf16();

  // Products with at most this many rows of x run in the engine's own kernel, larger ones in
  // oneDNN (default kMatmulSmallM from matmul.h; tests and benchmarks move it).
  int64_t matmul_small_m() const { return matmul_small_m_; }
  void set_matmul_small_m(int64_t m) { matmul_small_m_ = m; }

  dnnl::engine& engine() { return engine_; }
  dnnl::stream& stream() { return stream_; }

  // A 64-byte aligned buffer of at least `bytes`, contents unspecified, valid until the next
  // call for the same slot.
  void* scratch(Scratch slot, size_t bytes);

  // The cached primitive for key, or nullptr.
  MatmulPrimitive* find_matmul(const MatmulKey& key);
  // Stores a primitive (clearing the cache first when it has grown large) and returns it.
  MatmulPrimitive& add_matmul(const MatmulKey& key, MatmulPrimitive p);
  size_t cached_matmuls() const { return matmuls_.size(); }

 private:
  int threads_;
  bool avx512_;
  int64_t matmul_small_m_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  std::array<AlignedBuffer, size_t(Scratch::Count)> scratch_;
  std::unordered_map<MatmulKey, MatmulPrimitive, MatmulKeyHash> matmuls_;
};

}  // namespace yopo::ops
