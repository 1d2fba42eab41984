#include "ops/matmul.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.h"
#include "ops/matmul_int8.h"
#include "ops/onednn_matmul.h"

namespace yopo::ops {

namespace {

// ---------------------------------------------------------------------------------------------
// The engine's own kernel: rows of W (contiguous in K) dotted with a few rows of x, split over
// threads by output columns. Used for small M (decode) and where oneDNN has no fast path.

// Result of one dot product into y, overwriting or adding.
inline void put(float* y, float v, bool acc) {
  *y = acc ? *y + v : v;
}

// Scalar tile: MT rows of x (f32) against R rows of W starting at w (f32 or bf16 bits).
template <class WT>
inline float weight_at(const WT* w, int64_t i) {
  if constexpr (std::is_same_v<WT, float>) {
    return w[i];
  } else {
    return bf16_to_f32(w[i]);
  }
}

template <class WT>
void tile_scalar(const float* x, int64_t mt, int64_t ldx, const WT* w, int64_t r, int64_t ldw,
                 int64_t K, float* y, int64_t ldy, bool acc) {
  for (int64_t m = 0; m < mt; ++m) {
    for (int64_t j = 0; j < r; ++j) {
      float s = 0.0f;
      const float* xr = x + m * ldx;
      const WT* wr = w + j * ldw;
      for (int64_t k = 0; k < K; ++k) s += xr[k] * weight_at(wr, k);
      put(y + m * ldy + j, s, acc);
    }
  }
}

#if defined(__AVX2__) && defined(__FMA__)
inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

inline __m256 load8(const float* p) {
  return _mm256_loadu_ps(p);
}
inline __m256 load8(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// AVX2 tile: MT rows of x (f32; already bf16-rounded for bf16 weights) against R rows of W.
template <int MT, int R, class WT>
void tile_avx2(const float* x, int64_t ldx, const WT* w, int64_t ldw, int64_t K, float* y,
               int64_t ldy, bool acc) {
  __m256 a[MT][R];
  for (int m = 0; m < MT; ++m)
    for (int j = 0; j < R; ++j) a[m][j] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 wv[R];
    for (int j = 0; j < R; ++j) wv[j] = load8(w + j * ldw + k);
    for (int m = 0; m < MT; ++m) {
      const __m256 xv = _mm256_loadu_ps(x + m * ldx + k);
      for (int j = 0; j < R; ++j) a[m][j] = _mm256_fmadd_ps(wv[j], xv, a[m][j]);
    }
  }
  for (int m = 0; m < MT; ++m) {
    for (int j = 0; j < R; ++j) {
      float s = hsum(a[m][j]);
      for (int64_t kk = k; kk < K; ++kk) s += x[m * ldx + kk] * weight_at(w + j * ldw, kk);
      put(y + m * ldy + j, s, acc);
    }
  }
}

template <int MT, class WT>
void rows_avx2(const float* x, int64_t ldx, const WT* w, int64_t ldw, int64_t K, int64_t n0,
               int64_t n1, float* y, int64_t ldy, bool acc) {
  constexpr int R = MT <= 2 ? 4 : 2;
  int64_t n = n0;
  for (; n + R <= n1; n += R) tile_avx2<MT, R>(x, ldx, w + n * ldw, ldw, K, y + n, ldy, acc);
  for (; n < n1; ++n) tile_avx2<MT, 1>(x, ldx, w + n * ldw, ldw, K, y + n, ldy, acc);
}
#endif

// Sum of the 16 lanes (GCC 12's reduction intrinsics trip -Wuninitialized).
__attribute__((target("avx512f"))) inline float hsum512(__m512 v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  float s = 0.0f;
  for (float e : t) s += e;
  return s;
}

// AVX512-BF16 tile: MT rows of bf16 x against R rows of bf16 W, pairs accumulated in f32.
template <int MT, int R>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void tile_avx512(
    const uint16_t* x, int64_t ldx, const uint16_t* w, int64_t ldw, int64_t K, float* y,
    int64_t ldy, bool acc) {
  __m512 a[MT][R];
  for (int m = 0; m < MT; ++m)
    for (int j = 0; j < R; ++j) a[m][j] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    __m512i wv[R];
    for (int j = 0; j < R; ++j) wv[j] = _mm512_loadu_si512(w + j * ldw + k);
    for (int m = 0; m < MT; ++m) {
      const __m512i xv = _mm512_loadu_si512(x + m * ldx + k);
      for (int j = 0; j < R; ++j)
        a[m][j] = _mm512_dpbf16_ps(a[m][j], (__m512bh)wv[j], (__m512bh)xv);
    }
  }
  if (k < K) {
    const __mmask32 mask = __mmask32((1ull << (K - k)) - 1);
    __m512i wv[R];
    for (int j = 0; j < R; ++j) wv[j] = _mm512_maskz_loadu_epi16(mask, w + j * ldw + k);
    for (int m = 0; m < MT; ++m) {
      const __m512i xv = _mm512_maskz_loadu_epi16(mask, x + m * ldx + k);
      for (int j = 0; j < R; ++j)
        a[m][j] = _mm512_dpbf16_ps(a[m][j], (__m512bh)wv[j], (__m512bh)xv);
    }
  }
  for (int m = 0; m < MT; ++m)
    for (int j = 0; j < R; ++j) put(y + m * ldy + j, hsum512(a[m][j]), acc);
}

template <int MT>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void rows_avx512(
    const uint16_t* x, int64_t ldx, const uint16_t* w, int64_t ldw, int64_t K, int64_t n0,
    int64_t n1, float* y, int64_t ldy, bool acc) {
  constexpr int R = 4;
  int64_t n = n0;
  for (; n + R <= n1; n += R) tile_avx512<MT, R>(x, ldx, w + n * ldw, ldw, K, y + n, ldy, acc);
  for (; n < n1; ++n) tile_avx512<MT, 1>(x, ldx, w + n * ldw, ldw, K, y + n, ldy, acc);
}

// AVX-512 f32 tile: MT rows of x against R rows of f32 W.
template <int MT, int R>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void tile_avx512_f32(
    const float* x, int64_t ldx, const float* w, int64_t ldw, int64_t K, float* y, int64_t ldy,
    bool acc) {
  __m512 a[MT][R];
  for (int m = 0; m < MT; ++m)
    for (int j = 0; j < R; ++j) a[m][j] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 wv[R];
    for (int j = 0; j < R; ++j) wv[j] = _mm512_loadu_ps(w + j * ldw + k);
    for (int m = 0; m < MT; ++m) {
      const __m512 xv = _mm512_loadu_ps(x + m * ldx + k);
      for (int j = 0; j < R; ++j) a[m][j] = _mm512_fmadd_ps(wv[j], xv, a[m][j]);
    }
  }
  if (k < K) {
    const __mmask16 mask = __mmask16((1u << (K - k)) - 1);
    __m512 wv[R];
    for (int j = 0; j < R; ++j) wv[j] = _mm512_maskz_loadu_ps(mask, w + j * ldw + k);
    for (int m = 0; m < MT; ++m) {
      const __m512 xv = _mm512_maskz_loadu_ps(mask, x + m * ldx + k);
      for (int j = 0; j < R; ++j) a[m][j] = _mm512_fmadd_ps(wv[j], xv, a[m][j]);
    }
  }
  for (int m = 0; m < MT; ++m)
    for (int j = 0; j < R; ++j) put(y + m * ldy + j, hsum512(a[m][j]), acc);
}

template <int MT>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void rows_avx512_f32(
    const float* x, int64_t ldx, const float* w, int64_t ldw, int64_t K, int64_t n0, int64_t n1,
    float* y, int64_t ldy, bool acc) {
  constexpr int R = 4;
  int64_t n = n0;
  for (; n + R <= n1; n += R) tile_avx512_f32<MT, R>(x, ldx, w + n * ldw, ldw, K, y + n, ldy, acc);
  for (; n < n1; ++n) tile_avx512_f32<MT, 1>(x, ldx, w + n * ldw, ldw, K, y + n, ldy, acc);
}

// Output columns [n0, n1) for all M rows, m in tiles of up to 4 rows.
void small_range(const void* xp, int64_t M, int64_t ldx, const WeightView& w, bool avx512,
                 int64_t n0, int64_t n1, float* y, int64_t ldy, bool acc) {
  const int64_t K = w.cols;
  for (int64_t m0 = 0; m0 < M; m0 += 4) {
    const int64_t mt = std::min<int64_t>(4, M - m0);
    float* yt = y + m0 * ldy;
    if (avx512 && w.dtype == DType::BF16) {
      const uint16_t* x = static_cast<const uint16_t*>(xp) + m0 * ldx;
      const uint16_t* wb = static_cast<const uint16_t*>(w.data);
      switch (mt) {
        case 1:
          rows_avx512<1>(x, ldx, wb, w.ld, K, n0, n1, yt, ldy, acc);
          break;
        case 2:
          rows_avx512<2>(x, ldx, wb, w.ld, K, n0, n1, yt, ldy, acc);
          break;
        case 3:
          rows_avx512<3>(x, ldx, wb, w.ld, K, n0, n1, yt, ldy, acc);
          break;
        default:
          rows_avx512<4>(x, ldx, wb, w.ld, K, n0, n1, yt, ldy, acc);
          break;
      }
      continue;
    }
    const float* x = static_cast<const float*>(xp) + m0 * ldx;
    if (avx512 && w.dtype == DType::F32) {
      const float* wf = static_cast<const float*>(w.data);
      switch (mt) {
        case 1:
          rows_avx512_f32<1>(x, ldx, wf, w.ld, K, n0, n1, yt, ldy, acc);
          break;
        case 2:
          rows_avx512_f32<2>(x, ldx, wf, w.ld, K, n0, n1, yt, ldy, acc);
          break;
        case 3:
          rows_avx512_f32<3>(x, ldx, wf, w.ld, K, n0, n1, yt, ldy, acc);
          break;
        default:
          rows_avx512_f32<4>(x, ldx, wf, w.ld, K, n0, n1, yt, ldy, acc);
          break;
      }
      continue;
    }
    auto run = [&](auto* wt) {
#if defined(__AVX2__) && defined(__FMA__)
      switch (mt) {
        case 1:
          rows_avx2<1>(x, ldx, wt, w.ld, K, n0, n1, yt, ldy, acc);
          break;
        case 2:
          rows_avx2<2>(x, ldx, wt, w.ld, K, n0, n1, yt, ldy, acc);
          break;
        case 3:
          rows_avx2<3>(x, ldx, wt, w.ld, K, n0, n1, yt, ldy, acc);
          break;
        default:
          rows_avx2<4>(x, ldx, wt, w.ld, K, n0, n1, yt, ldy, acc);
          break;
      }
#else
      tile_scalar(x, mt, ldx, wt + n0 * w.ld, n1 - n0, w.ld, K, yt + n0, ldy, acc);
#endif
    };
    if (w.dtype == DType::F32) {
      run(static_cast<const float*>(w.data));
    } else {
      run(static_cast<const uint16_t*>(w.data));
    }
  }
}

void small_matmul(Context& ctx, const float* x, int64_t M, int64_t ldx, const WeightView& w,
                  float* y, int64_t ldy, bool acc) {
  const int64_t K = w.cols, N = w.rows;
  const bool bf16 = w.dtype == DType::BF16;
  const bool avx512 = ctx.avx512();
  const void* xp = x;
  int64_t ldxp = ldx;
  if (bf16 && avx512) {
    // x as bf16 for the dot-product instruction.
    auto* xb = static_cast<uint16_t*>(ctx.scratch(Scratch::MatmulInput, size_t(M * K) * 2));
    for (int64_t m = 0; m < M; ++m) round_to_bf16(x + m * ldx, xb + m * K, K);
    xp = xb;
    ldxp = K;
  } else if (bf16) {
    // x rounded to bf16 values, kept as f32.
    auto* xr = static_cast<float*>(ctx.scratch(Scratch::MatmulInput, size_t(M * K) * 4));
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < K; ++k) xr[m * K + k] = bf16_to_f32(f32_to_bf16(x[m * ldx + k]));
    xp = xr;
    ldxp = K;
  }
  // Chunks of 16 output columns spread evenly over the threads.
  const int64_t chunks = (N + 15) / 16;
  const int threads = int(std::min<int64_t>(ctx.threads(), chunks));
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t n0 = std::min(N, chunks * t / nt * 16);
    const int64_t n1 = std::min(N, chunks * (t + 1) / nt * 16);
    if (n0 < n1) small_range(xp, M, ldxp, w, avx512, n0, n1, y, ldy, acc);
  }
}

// ---------------------------------------------------------------------------------------------
// oneDNN path.

// Returns false when oneDNN has no usable implementation.
bool onednn_matmul(Context& ctx, const float* x, int64_t M, int64_t ldx, const WeightView& w,
                   float* y, int64_t ldy, bool acc) {
  const int64_t K = w.cols, N = w.rows;
  const bool bf16 = w.dtype == DType::BF16;
  const void* src = x;
  MatmulKey key{M, N, K, bf16 ? K : ldx, w.ld, ldy, w.dtype, acc, ctx.threads()};
  OmpThreadScope scope(ctx.threads());
  MatmulPrimitive* p = onednn_primitive(ctx, key);
  if (!p) return false;
  if (bf16) {
    auto* xb = static_cast<uint16_t*>(ctx.scratch(Scratch::MatmulInput, size_t(M * K) * 2));
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
    for (int64_t m = 0; m < M; ++m) round_to_bf16(x + m * ldx, xb + m * K, K);
    src = xb;
  }
  run_onednn(ctx, *p, key, src, w.data, y);
  return true;
}

}  // namespace

void matmul(Context& ctx, const float* x, int64_t M, int64_t ldx, const WeightView& w, float* y,
            int64_t ldy, bool accumulate) {
  check(w.dtype == DType::F32 || w.dtype == DType::BF16 || w.dtype == DType::I8,
        "matmul weights must be F32, BF16 or I8, not ", dtype_name(w.dtype));
  check(M >= 0 && w.rows >= 0 && w.cols >= 0, "matmul sizes must not be negative (M=", M,
        ", weights ", w.rows, " x ", w.cols, ")");
  check(w.ld >= w.cols, "matmul weight row stride ", w.ld, " is below its width ", w.cols);
  check(ldx >= w.cols, "matmul input row stride ", ldx, " is below K=", w.cols);
  check(ldy >= w.rows, "matmul output row stride ", ldy, " is below N=", w.rows);
  if (M == 0 || w.rows == 0) return;
  check(y != nullptr, "matmul output is null");
  if (w.cols == 0) {
    if (!accumulate)
      for (int64_t m = 0; m < M; ++m) std::fill(y + m * ldy, y + m * ldy + w.rows, 0.0f);
    return;
  }
  check(x != nullptr && w.data != nullptr, "matmul input or weights are null");
  if (w.dtype == DType::I8) return matmul_int8(ctx, x, M, ldx, w, y, ldy, accumulate);
  if (M > ctx.matmul_small_m() && onednn_matmul(ctx, x, M, ldx, w, y, ldy, accumulate)) return;
  small_matmul(ctx, x, M, ldx, w, y, ldy, accumulate);
}

}  // namespace yopo::ops
