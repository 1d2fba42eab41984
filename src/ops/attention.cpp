#include "ops/attention.h"

#include <immintrin.h>

#include <algorithm>

#include "core/error.h"
#include "ops/activations.h"

namespace yopo::ops {

namespace {

// A work item: up to kBlock rows (query, head) that share one KV head. Rows are either
// consecutive queries of one head (prefill) or several heads of one query (GQA decode).
constexpr int kBlock = 4;

struct Rows {
  int n = 0;
  const float* q[kBlock];
  float* out[kBlock];
  int64_t limit[kBlock];  // keys [0, limit) are visible
};

#if defined(__AVX2__) && defined(__FMA__)
inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

// Rows of K and V are far apart in the cache (one row per token across all heads): fetch
// the rows a few keys ahead.
constexpr int64_t kPrefetchAhead = 8;
inline void prefetch_row(const float* p, int64_t n) {
  const char* c = reinterpret_cast<const char*>(p);
  for (int64_t b = 0; b < n * int64_t(sizeof(float)); b += 64) _mm_prefetch(c + b, _MM_HINT_T0);
}

// s[r * stride + j] = scale * q_r . k_j for j < nk, two keys at a time.
template <int R>
__attribute__((noinline)) void scores_avx2(const Rows& rows, const float* k, int64_t ldkv,
                                           int64_t nk, int64_t d, float scale, float* s,
                                           int64_t stride) {
  int64_t j = 0;
  for (; j + 2 <= nk; j += 2) {
    const float* k0 = k + j * ldkv;
    const float* k1 = k0 + ldkv;
    prefetch_row(k + std::min(j + kPrefetchAhead, nk - 1) * ldkv, d);
    prefetch_row(k + std::min(j + kPrefetchAhead + 1, nk - 1) * ldkv, d);
    __m256 a0[R], a1[R];
    for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= d; i += 8) {
      const __m256 kv0 = _mm256_loadu_ps(k0 + i), kv1 = _mm256_loadu_ps(k1 + i);
      for (int r = 0; r < R; ++r) {
        const __m256 qv = _mm256_loadu_ps(rows.q[r] + i);
        a0[r] = _mm256_fmadd_ps(qv, kv0, a0[r]);
        a1[r] = _mm256_fmadd_ps(qv, kv1, a1[r]);
      }
    }
    for (int r = 0; r < R; ++r) {
      float s0 = hsum(a0[r]), s1 = hsum(a1[r]);
      for (int64_t t = i; t < d; ++t) {
        s0 += rows.q[r][t] * k0[t];
        s1 += rows.q[r][t] * k1[t];
      }
      s[r * stride + j] = s0 * scale;
      s[r * stride + j + 1] = s1 * scale;
    }
  }
  for (; j < nk; ++j) {
    const float* k0 = k + j * ldkv;
    __m256 a0[R];
    for (int r = 0; r < R; ++r) a0[r] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= d; i += 8) {
      const __m256 kv0 = _mm256_loadu_ps(k0 + i);
      for (int r = 0; r < R; ++r)
        a0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(rows.q[r] + i), kv0, a0[r]);
    }
    for (int r = 0; r < R; ++r) {
      float s0 = hsum(a0[r]);
      for (int64_t t = i; t < d; ++t) s0 += rows.q[r][t] * k0[t];
      s[r * stride + j] = s0 * scale;
    }
  }
}

// out_r = sum_j p[r * stride + j] * v_j, 16 then 8 columns at a time, keys in blocks of 64
// so that a block's value rows stay in L1 while all column chunks pass over them.
template <int R>
__attribute__((noinline)) void values_avx2(const Rows& rows, const float* p, int64_t stride,
                                           const float* v, int64_t ldkv, int64_t nk, int64_t d) {
  constexpr int64_t kJ = 64;
  for (int64_t j0 = 0; j0 < nk; j0 += kJ) {
    const int64_t j1 = std::min(nk, j0 + kJ);
    const bool first = j0 == 0;
    int64_t i = 0;
    for (; i + 16 <= d; i += 16) {
      __m256 a[R][2];
      for (int r = 0; r < R; ++r) {
        a[r][0] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(rows.out[r] + i);
        a[r][1] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(rows.out[r] + i + 8);
      }
      for (int64_t j = j0; j < j1; ++j) {
        if (i == 0) prefetch_row(v + std::min(j + kPrefetchAhead, nk - 1) * ldkv, d);
        const float* vj = v + j * ldkv + i;
        const __m256 v0 = _mm256_loadu_ps(vj), v1 = _mm256_loadu_ps(vj + 8);
        for (int r = 0; r < R; ++r) {
          const __m256 pb = _mm256_broadcast_ss(p + r * stride + j);
          a[r][0] = _mm256_fmadd_ps(pb, v0, a[r][0]);
          a[r][1] = _mm256_fmadd_ps(pb, v1, a[r][1]);
        }
      }
      for (int r = 0; r < R; ++r) {
        _mm256_storeu_ps(rows.out[r] + i, a[r][0]);
        _mm256_storeu_ps(rows.out[r] + i + 8, a[r][1]);
      }
    }
    for (; i + 8 <= d; i += 8) {
      __m256 a[R];
      for (int r = 0; r < R; ++r)
        a[r] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(rows.out[r] + i);
      for (int64_t j = j0; j < j1; ++j) {
        const __m256 v0 = _mm256_loadu_ps(v + j * ldkv + i);
        for (int r = 0; r < R; ++r)
          a[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + r * stride + j), v0, a[r]);
      }
      for (int r = 0; r < R; ++r) _mm256_storeu_ps(rows.out[r] + i, a[r]);
    }
    for (; i < d; ++i) {
      for (int r = 0; r < R; ++r) {
        float acc = first ? 0.0f : rows.out[r][i];
        for (int64_t j = j0; j < j1; ++j) acc += p[r * stride + j] * v[j * ldkv + i];
        rows.out[r][i] = acc;
      }
    }
  }
}

// Prefill: blocks of kQueryBlock queries of one head as small matrix products. Keys are
// transposed kKeyBlock at a time into kt ([d][kKeyBlock]) so the score kernel broadcasts query
// elements against contiguous key columns; the visible values are packed contiguously (vp) so the
// value kernel streams them.
constexpr int64_t kQueryBlock = 32;
constexpr int64_t kMinBlockedQueries = 16;
constexpr int64_t kKeyBlock = 64;

struct Workspace {
  float* s;   // [kQueryBlock][stride] scores, then probabilities
  float* kt;  // [d][kKeyBlock]
  float* vp;  // [n_kv][d]
};

size_t workspace_floats(int64_t stride, int64_t d, int64_t n_kv) {
  return size_t(kQueryBlock * stride + d * kKeyBlock + n_kv * d + 16);
}

// s[r][j0 + jj] = scale * q_r . k_{j0 + jj} for R rows and jj < kb (multiple of 16 written).
template <int R>
void block_scores(const float* const* q, const float* kt, int64_t kb, int64_t d, float scale,
                  float* s, int64_t stride) {
  const __m256 sc = _mm256_set1_ps(scale);
  for (int64_t jj = 0; jj < kb; jj += 16) {
    __m256 a[R][2];
    for (int r = 0; r < R; ++r) a[r][0] = a[r][1] = _mm256_setzero_ps();
    for (int64_t t = 0; t < d; ++t) {
      const __m256 k0 = _mm256_loadu_ps(kt + t * kKeyBlock + jj);
      const __m256 k1 = _mm256_loadu_ps(kt + t * kKeyBlock + jj + 8);
      for (int r = 0; r < R; ++r) {
        const __m256 qb = _mm256_broadcast_ss(q[r] + t);
        a[r][0] = _mm256_fmadd_ps(qb, k0, a[r][0]);
        a[r][1] = _mm256_fmadd_ps(qb, k1, a[r][1]);
      }
    }
    for (int r = 0; r < R; ++r) {
      _mm256_storeu_ps(s + r * stride + jj, _mm256_mul_ps(a[r][0], sc));
      _mm256_storeu_ps(s + r * stride + jj + 8, _mm256_mul_ps(a[r][1], sc));
    }
  }
}

// out_r = sum_{j < nk} p[r][j] vp_j for R rows; vp rows are contiguous ([nk][d]).
template <int R>
void block_values(const float* p, int64_t stride, const float* vp, int64_t nk, int64_t d,
                  float* const* out) {
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) {
    __m256 a[R][2];
    for (int r = 0; r < R; ++r) a[r][0] = a[r][1] = _mm256_setzero_ps();
    for (int64_t j = 0; j < nk; ++j) {
      const __m256 v0 = _mm256_loadu_ps(vp + j * d + i), v1 = _mm256_loadu_ps(vp + j * d + i + 8);
      for (int r = 0; r < R; ++r) {
        const __m256 pb = _mm256_broadcast_ss(p + r * stride + j);
        a[r][0] = _mm256_fmadd_ps(pb, v0, a[r][0]);
        a[r][1] = _mm256_fmadd_ps(pb, v1, a[r][1]);
      }
    }
    for (int r = 0; r < R; ++r) {
      _mm256_storeu_ps(out[r] + i, a[r][0]);
      _mm256_storeu_ps(out[r] + i + 8, a[r][1]);
    }
  }
  for (; i < d; ++i) {
    for (int r = 0; r < R; ++r) {
      float acc = 0.0f;
      for (int64_t j = 0; j < nk; ++j) acc += p[r * stride + j] * vp[j * d + i];
      out[r][i] = acc;
    }
  }
}

template <class F>
void dispatch_rows(int n, F&& f) {
  switch (n) {
    case 1:
      f(std::integral_constant<int, 1>());
      break;
    case 2:
      f(std::integral_constant<int, 2>());
      break;
    case 3:
      f(std::integral_constant<int, 3>());
      break;
    default:
      f(std::integral_constant<int, 4>());
      break;
  }
}

// One head, queries [i0, i1): limit(i) = keys visible to query i.
void run_query_block(const float* q, int64_t ldq, float* out, int64_t ldo, int64_t i0, int64_t i1,
                     const float* k, const float* v, int64_t ldkv, int64_t d, float scale,
                     const int64_t* limits, Workspace ws, int64_t stride) {
  const int64_t nq = i1 - i0;
  int64_t nk = 0;
  for (int64_t r = 0; r < nq; ++r) nk = std::max(nk, limits[r]);
  // Scores, key block by key block.
  for (int64_t j0 = 0; j0 < nk; j0 += kKeyBlock) {
    const int64_t kb = std::min(kKeyBlock, nk - j0);
    const int64_t kb16 = (kb + 15) / 16 * 16;
    for (int64_t jj = 0; jj < kb; ++jj) {
      const float* kj = k + (j0 + jj) * ldkv;
      for (int64_t t = 0; t < d; ++t) ws.kt[t * kKeyBlock + jj] = kj[t];
    }
    for (int64_t jj = kb; jj < kb16; ++jj)
      for (int64_t t = 0; t < d; ++t) ws.kt[t * kKeyBlock + jj] = 0.0f;
    for (int64_t r0 = 0; r0 < nq; r0 += kBlock) {
      const int n = int(std::min<int64_t>(kBlock, nq - r0));
      int64_t tile_limit = 0;
      for (int r = 0; r < n; ++r) tile_limit = std::max(tile_limit, limits[r0 + r]);
      if (j0 >= tile_limit) continue;  // all masked for these rows
      const float* qr[kBlock];
      for (int r = 0; r < n; ++r) qr[r] = q + (i0 + r0 + r) * ldq;
      float* sr = ws.s + r0 * stride + j0;
      dispatch_rows(n, [&](auto R) { block_scores<R()>(qr, ws.kt, kb16, d, scale, sr, stride); });
    }
  }
  // Values of the visible keys, packed.
  for (int64_t j = 0; j < nk; ++j) std::copy_n(v + j * ldkv, d, ws.vp + j * d);
  for (int64_t r0 = 0; r0 < nq; r0 += kBlock) {
    const int n = int(std::min<int64_t>(kBlock, nq - r0));
    int64_t tile_limit = 0;
    float* outr[kBlock];
    for (int r = 0; r < n; ++r) {
      const int64_t lim = limits[r0 + r];
      float* sr = ws.s + (r0 + r) * stride;
      softmax_inplace(sr, lim);
      tile_limit = std::max(tile_limit, lim);
      outr[r] = out + (i0 + r0 + r) * ldo;
    }
    for (int r = 0; r < n; ++r) {
      float* sr = ws.s + (r0 + r) * stride;
      std::fill(sr + limits[r0 + r], sr + tile_limit, 0.0f);  // masked keys
    }
    const float* p = ws.s + r0 * stride;
    dispatch_rows(n, [&](auto R) { block_values<R()>(p, stride, ws.vp, tile_limit, d, outr); });
  }
}
#endif

#if !(defined(__AVX2__) && defined(__FMA__))
void scores_scalar(const Rows& rows, const float* k, int64_t ldkv, int64_t nk, int64_t d,
                   float scale, float* s, int64_t stride) {
  for (int r = 0; r < rows.n; ++r) {
    for (int64_t j = 0; j < nk; ++j) {
      float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
      for (int64_t i = 0; i < d; ++i) acc += rows.q[r][i] * k[j * ldkv + i];
      s[r * stride + j] = acc * scale;
    }
  }
}

void values_scalar(const Rows& rows, const float* p, int64_t stride, const float* v, int64_t ldkv,
                   int64_t nk, int64_t d) {
  for (int r = 0; r < rows.n; ++r) {
    float* o = rows.out[r];
    std::fill(o, o + d, 0.0f);
    for (int64_t j = 0; j < nk; ++j) {
      const float pj = p[r * stride + j];
      const float* vj = v + j * ldkv;
#pragma omp simd
      for (int64_t i = 0; i < d; ++i) o[i] += pj * vj[i];
    }
  }
}
#endif

// Scores, masked softmax per row, weighted sum of values for one work item.
void run_rows(const Rows& rows, const float* k, const float* v, int64_t ldkv, int64_t d,
              float scale, float* s, int64_t stride) {
  int64_t nk = 0;
  for (int r = 0; r < rows.n; ++r) nk = std::max(nk, rows.limit[r]);
#if defined(__AVX2__) && defined(__FMA__)
  switch (rows.n) {
    case 1:
      scores_avx2<1>(rows, k, ldkv, nk, d, scale, s, stride);
      break;
    case 2:
      scores_avx2<2>(rows, k, ldkv, nk, d, scale, s, stride);
      break;
    case 3:
      scores_avx2<3>(rows, k, ldkv, nk, d, scale, s, stride);
      break;
    default:
      scores_avx2<4>(rows, k, ldkv, nk, d, scale, s, stride);
      break;
  }
#else
  scores_scalar(rows, k, ldkv, nk, d, scale, s, stride);
#endif
  for (int r = 0; r < rows.n; ++r) {
    float* sr = s + r * stride;
    softmax_inplace(sr, rows.limit[r]);
    std::fill(sr + rows.limit[r], sr + nk, 0.0f);  // masked keys
  }
#if defined(__AVX2__) && defined(__FMA__)
  switch (rows.n) {
    case 1:
      values_avx2<1>(rows, s, stride, v, ldkv, nk, d);
      break;
    case 2:
      values_avx2<2>(rows, s, stride, v, ldkv, nk, d);
      break;
    case 3:
      values_avx2<3>(rows, s, stride, v, ldkv, nk, d);
      break;
    default:
      values_avx2<4>(rows, s, stride, v, ldkv, nk, d);
      break;
  }
#else
  values_scalar(rows, s, stride, v, ldkv, nk, d);
#endif
}

}  // namespace

void check_attention_args(const AttentionShape& sh, int64_t n_q, int64_t ldq, int64_t n_kv,
                          int64_t ldkv, int64_t ldo) {
  const int64_t H = sh.n_heads, KVH = sh.n_kv_heads, d = sh.head_dim;
  check(H > 0 && KVH > 0 && d > 0 && H % KVH == 0, "attention: bad head shape (", H, " heads, ",
        KVH, " KV heads, head_dim ", d, "); heads must be a multiple of KV heads");
  check(n_q >= 0 && n_kv >= 0, "attention: negative sizes");
  check(ldq >= H * d && ldo >= H * d, "attention: query/output row strides ", ldq, ", ", ldo,
        " are below ", H, " x ", d);
  check(ldkv >= KVH * d, "attention: KV row stride ", ldkv, " is below ", KVH, " x ", d);
}

namespace {

void attention(Context& ctx, const float* q, int64_t n_q, int64_t ldq, int64_t q_start,
               const float* k, const float* v, int64_t n_kv, int64_t ldkv, const AttentionShape& sh,
               float scale, float* out, int64_t ldo, bool causal) {
  const int64_t H = sh.n_heads, KVH = sh.n_kv_heads, d = sh.head_dim;
  check_attention_args(sh, n_q, ldq, n_kv, ldkv, ldo);
  check(q_start >= 0, "attention: negative sizes");
  if (causal) {
    check(q_start + n_q <= n_kv, "attention: queries [", q_start, ", ", q_start + n_q,
          ") reach past the ", n_kv, " keys");
  } else {
    check(n_q == 0 || n_kv > 0, "attention: no keys");
  }
  if (n_q == 0) return;
  check(q && k && v && out, "attention: null input or output");

  const int64_t group = H / KVH;
  const int64_t stride = (n_kv + 15) / 16 * 16;
#if defined(__AVX2__) && defined(__FMA__)
  if (n_q >= kMinBlockedQueries) {
    const int64_t query_blocks = (n_q + kQueryBlock - 1) / kQueryBlock;
    const int64_t items = H * query_blocks;
    const int threads = int(std::max<int64_t>(1, std::min<int64_t>(ctx.threads(), items)));
    const size_t per_thread = workspace_floats(stride, d, n_kv);
    float* scratch = static_cast<float*>(
        ctx.scratch(Scratch::Attention, size_t(threads) * per_thread * sizeof(float)));
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t h = it / query_blocks;
      const int64_t qb = query_blocks - 1 - it % query_blocks;  // longest first
      const int64_t i0 = qb * kQueryBlock, i1 = std::min(n_q, i0 + kQueryBlock);
      int64_t limits[kQueryBlock];
      for (int64_t i = i0; i < i1; ++i) limits[i - i0] = causal ? q_start + i + 1 : n_kv;
      float* base = scratch + size_t(omp_get_thread_num()) * per_thread;
      const Workspace ws{base, base + kQueryBlock * stride,
                         base + kQueryBlock * stride + d * kKeyBlock};
      const int64_t kvh = h / group;
      run_query_block(q + h * d, ldq, out + h * d, ldo, i0, i1, k + kvh * d, v + kvh * d, ldkv, d,
                      scale, limits, ws, stride);
    }
    return;
  }
#endif
  // Few queries: blocks of kBlock queries of one head, or blocks of heads of one group.
  const bool by_query = n_q >= kBlock || group == 1;
  const int64_t head_block = by_query ? 1 : std::min<int64_t>(group, kBlock);
  const int64_t query_block = by_query ? kBlock : 1;
  const int64_t head_blocks = by_query ? H : KVH * ((group + head_block - 1) / head_block);
  const int64_t query_blocks = (n_q + query_block - 1) / query_block;
  const int64_t items = head_blocks * query_blocks;

  const int threads = int(std::max<int64_t>(1, std::min<int64_t>(ctx.threads(), items)));
  float* scratch = static_cast<float*>(
      ctx.scratch(Scratch::Attention, size_t(threads) * kBlock * size_t(stride) * sizeof(float)));

#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t hb = it / query_blocks;
    // Within a head block, the longest (last) query blocks first.
    const int64_t qb = query_blocks - 1 - it % query_blocks;
    Rows rows;
    int64_t kvh = 0;
    if (by_query) {
      const int64_t h = hb;
      kvh = h / group;
      for (int64_t i = qb * query_block; i < std::min(n_q, (qb + 1) * query_block); ++i) {
        rows.q[rows.n] = q + i * ldq + h * d;
        rows.out[rows.n] = out + i * ldo + h * d;
        rows.limit[rows.n] = causal ? q_start + i + 1 : n_kv;
        ++rows.n;
      }
    } else {
      const int64_t blocks_per_group = (group + head_block - 1) / head_block;
      kvh = hb / blocks_per_group;
      const int64_t h0 = kvh * group + (hb % blocks_per_group) * head_block;
      const int64_t h1 = std::min(kvh * group + group, h0 + head_block);
      const int64_t i = qb;
      for (int64_t h = h0; h < h1; ++h) {
        rows.q[rows.n] = q + i * ldq + h * d;
        rows.out[rows.n] = out + i * ldo + h * d;
        rows.limit[rows.n] = causal ? q_start + i + 1 : n_kv;
        ++rows.n;
      }
    }
    float* s = scratch + size_t(omp_get_thread_num()) * kBlock * size_t(stride);
    run_rows(rows, k + kvh * d, v + kvh * d, ldkv, d, scale, s, stride);
  }
}

}  // namespace

void attention_causal(Context& ctx, const float* q, int64_t n_q, int64_t ldq, int64_t q_start,
                      const float* k, const float* v, int64_t n_kv, int64_t ldkv,
                      const AttentionShape& s, float scale, float* out, int64_t ldo) {
  attention(ctx, q, n_q, ldq, q_start, k, v, n_kv, ldkv, s, scale, out, ldo, true);
}

void attention_full(Context& ctx, const float* q, int64_t n_q, int64_t ldq, const float* k,
                    const float* v, int64_t n_kv, int64_t ldkv, const AttentionShape& s,
                    float scale, float* out, int64_t ldo) {
  attention(ctx, q, n_q, ldq, 0, k, v, n_kv, ldkv, s, scale, out, ldo, false);
}

}  // namespace yopo::ops
