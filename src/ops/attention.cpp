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

// s[r * stride + j] = scale * q_r . k_j for j < nk, two keys at a time.
template <int R>
void scores_avx2(const Rows& rows, const float* k, int64_t ldkv, int64_t nk, int64_t d, float scale,
                 float* s, int64_t stride) {
  int64_t j = 0;
  for (; j + 2 <= nk; j += 2) {
    const float* k0 = k + j * ldkv;
    const float* k1 = k0 + ldkv;
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

// out_r = sum_j p[r * stride + j] * v_j, 16 then 8 columns at a time.
template <int R>
void values_avx2(const Rows& rows, const float* p, int64_t stride, const float* v, int64_t ldkv,
                 int64_t nk, int64_t d) {
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) {
    __m256 a[R][2];
    for (int r = 0; r < R; ++r) a[r][0] = a[r][1] = _mm256_setzero_ps();
    for (int64_t j = 0; j < nk; ++j) {
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
    for (int r = 0; r < R; ++r) a[r] = _mm256_setzero_ps();
    for (int64_t j = 0; j < nk; ++j) {
      const __m256 v0 = _mm256_loadu_ps(v + j * ldkv + i);
      for (int r = 0; r < R; ++r)
        a[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + r * stride + j), v0, a[r]);
    }
    for (int r = 0; r < R; ++r) _mm256_storeu_ps(rows.out[r] + i, a[r]);
  }
  for (; i < d; ++i) {
    for (int r = 0; r < R; ++r) {
      float acc = 0.0f;
      for (int64_t j = 0; j < nk; ++j) acc += p[r * stride + j] * v[j * ldkv + i];
      rows.out[r][i] = acc;
    }
  }
}
#else

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

void attention(Context& ctx, const float* q, int64_t n_q, int64_t ldq, int64_t q_start,
               const float* k, const float* v, int64_t n_kv, int64_t ldkv, const AttentionShape& sh,
               float scale, float* out, int64_t ldo, bool causal) {
  const int64_t H = sh.n_heads, KVH = sh.n_kv_heads, d = sh.head_dim;
  check(H > 0 && KVH > 0 && d > 0 && H % KVH == 0, "attention: bad head shape (", H, " heads, ",
        KVH, " KV heads, head_dim ", d, "); heads must be a multiple of KV heads");
  check(n_q >= 0 && n_kv >= 0 && q_start >= 0, "attention: negative sizes");
  check(ldq >= H * d && ldo >= H * d, "attention: query/output row strides ", ldq, ", ", ldo,
        " are below ", H, " x ", d);
  check(ldkv >= KVH * d, "attention: KV row stride ", ldkv, " is below ", KVH, " x ", d);
  if (causal) {
    check(q_start + n_q <= n_kv, "attention: queries [", q_start, ", ", q_start + n_q,
          ") reach past the ", n_kv, " keys");
  } else {
    check(n_q == 0 || n_kv > 0, "attention: no keys");
  }
  if (n_q == 0) return;
  check(q && k && v && out, "attention: null input or output");

  const int64_t group = H / KVH;
  // Prefill: blocks of kBlock queries of one head. Few queries: blocks of heads of one group.
  const bool by_query = n_q >= kBlock || group == 1;
  const int64_t head_block = by_query ? 1 : std::min<int64_t>(group, kBlock);
  const int64_t query_block = by_query ? kBlock : 1;
  const int64_t head_blocks = by_query ? H : KVH * ((group + head_block - 1) / head_block);
  const int64_t query_blocks = (n_q + query_block - 1) / query_block;
  const int64_t items = head_blocks * query_blocks;

  const int64_t stride = (n_kv + 15) / 16 * 16;
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
