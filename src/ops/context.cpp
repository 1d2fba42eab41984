#include "ops/context.h"

#include <functional>

#include "core/error.h"
#include "ops/matmul.h"

namespace yopo::ops {

namespace {
// More distinct shapes than this (many prompt lengths) and the cache starts over.
constexpr size_t kMaxCachedMatmuls = 512;

dnnl::engine make_engine() {
  try {
    return dnnl::engine(dnnl::engine::kind::cpu, 0);
  } catch (const dnnl::error& e) {
    fail("cannot create the oneDNN CPU engine: ", e.what());
  }
}
}  // namespace

size_t MatmulKeyHash::operator()(const MatmulKey& k) const {
  size_t h = 0;
  auto mix = [&h](int64_t v) {
    h ^= std::hash<int64_t>()(v) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  };
  mix(k.m);
  mix(k.n);
  mix(k.k);
  mix(k.ldx);
  mix(k.ldw);
  mix(k.ldy);
  mix(int64_t(k.dtype));
  mix(k.accumulate);
  mix(k.threads);
  return h;
}

bool Context::cpu_has_avx512_bf16() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512bf16");
  return has;
}

Context::Context(int threads)
    : threads_(threads > 0 ? threads : omp_get_max_threads()),
      avx512_(cpu_has_avx512_bf16()),
      matmul_small_m_(kMatmulSmallM),
      engine_(make_engine()),
      stream_(engine_) {}

void Context::set_avx512(bool on) {
  avx512_ = on && cpu_has_avx512_bf16();
}

void* Context::scratch(Scratch slot, size_t bytes) {
  AlignedBuffer& b = scratch_[size_t(slot)];
  if (b.size() < bytes || !b.data()) b = AlignedBuffer(bytes > 0 ? bytes : 64);
  return b.data();
}

MatmulPrimitive* Context::find_matmul(const MatmulKey& key) {
  auto it = matmuls_.find(key);
  return it == matmuls_.end() ? nullptr : &it->second;
}

MatmulPrimitive& Context::add_matmul(const MatmulKey& key, MatmulPrimitive p) {
  if (matmuls_.size() >= kMaxCachedMatmuls) matmuls_.clear();
  return matmuls_.insert_or_assign(key, std::move(p)).first->second;
}

}  // namespace yopo::ops
