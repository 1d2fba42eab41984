#include "ops/attention_bf16.h"

#include <algorithm>
#include <cstddef>

#include "core/error.h"
#include "ops/activations.h"
#include "ops/matmul.h"
#include "ops/weights.h"

namespace yopo::ops {

namespace {

int64_t round_up(int64_t x, int64_t to) {
  return (x + to - 1) / to * to;
}

}  // namespace

void attention_full_bf16(Context& ctx, const float* q, int64_t n_q, int64_t ldq, const float* k,
                         const float* v, int64_t n_kv, int64_t ldkv, const AttentionShape& sh,
                         float scale, float* out, int64_t ldo) {
  const int64_t H = sh.n_heads, KVH = sh.n_kv_heads, d = sh.head_dim;
  check_attention_args(sh, n_q, ldq, n_kv, ldkv, ldo);
  check(n_q == 0 || n_kv > 0, "attention: no keys");
  if (n_q == 0) return;
  check(q && k && v && out, "attention: null input or output");

  // Scratch: K as bf16 [n_kv][KVH * d], V transposed per KV head as bf16 [KVH * d][ldvt], and
  // one head's scores [n_q][lds].
  const int64_t ldk = KVH * d, ldvt = round_up(n_kv, 32), lds = round_up(n_kv, 16);
  const size_t kb_bytes = size_t(round_up(n_kv * ldk * 2, 64));
  const size_t vt_bytes = size_t(round_up(KVH * d * ldvt * 2, 64));
  const size_t s_bytes = size_t(n_q * lds) * sizeof(float);
  auto* base =
      static_cast<std::byte*>(ctx.scratch(Scratch::Attention, kb_bytes + vt_bytes + s_bytes));
  auto* kb = reinterpret_cast<uint16_t*>(base);
  auto* vt = reinterpret_cast<uint16_t*>(base + kb_bytes);
  auto* s = reinterpret_cast<float*>(base + kb_bytes + vt_bytes);
  const int threads = ctx.threads();

#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t j = 0; j < n_kv; ++j) round_to_bf16(k + j * ldkv, kb + j * ldk, ldk);
  // V^T in blocks of 16 columns: each key's 16 values are read at once, 16 rows written.
  constexpr int64_t kCols = 16;
  const int64_t n_blocks = (KVH * d + kCols - 1) / kCols;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t c0 = b * kCols, nc = std::min(kCols, KVH * d - c0);
    for (int64_t j = 0; j < n_kv; ++j)
      for (int64_t c = 0; c < nc; ++c) vt[(c0 + c) * ldvt + j] = f32_to_bf16(v[j * ldkv + c0 + c]);
  }

  const int64_t group = H / KVH;
  for (int64_t h = 0; h < H; ++h) {
    const int64_t kvh = h / group;
    const WeightView kw{DType::BF16, kb + kvh * d, n_kv, d, ldk, nullptr, nullptr};
    matmul(ctx, q + h * d, n_q, ldq, kw, s, lds);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < n_q; ++r) {
      float* row = s + r * lds;
      for (int64_t j = 0; j < n_kv; ++j) row[j] *= scale;
      softmax_inplace(row, n_kv);
    }
    const WeightView vw{DType::BF16, vt + kvh * d * ldvt, d, n_kv, ldvt, nullptr, nullptr};
    matmul(ctx, s, n_q, lds, vw, out + h * d, ldo);
  }
}

}  // namespace yopo::ops
