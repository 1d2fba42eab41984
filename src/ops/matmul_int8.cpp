#include "ops/matmul_int8.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "core/error.h"
#include "ops/onednn_matmul.h"

namespace yopo::ops {

namespace {

inline size_t round_up64(size_t n) {
  return (n + 63) / 64 * 64;
}

// ---------------------------------------------------------------------------------------------
// Dynamic quantization of activation rows.

// Scale of a row from its largest magnitude and whether all values were finite.
inline float row_scale(float amax, bool finite) {
  if (!finite) return std::numeric_limits<float>::quiet_NaN();
  return amax / 127.0f;
}

inline int8_t quantize_one(float v, float s) {
  return int8_t(std::clamp(std::nearbyint(v / s), -127.0f, 127.0f));
}

[[maybe_unused]] void quantize_row_scalar(const float* x, int64_t K, int8_t* q, float* scale) {
  float amax = 0.0f;
  bool finite = true;
  for (int64_t k = 0; k < K; ++k) {
    finite = finite && std::isfinite(x[k]);
    amax = std::max(amax, std::fabs(x[k]));
  }
  const float s = row_scale(amax, finite);
  *scale = s;
  if (!(s > 0.0f)) {  // zeros, or NaN
    std::fill(q, q + K, int8_t(0));
    return;
  }
  for (int64_t k = 0; k < K; ++k) q[k] = quantize_one(x[k], s);
}

#if defined(__AVX2__)
// The same with 8 lanes: _mm256_div_ps is IEEE division like the scalar code and
// _mm256_cvtps_epi32 rounds to nearest even (the default MXCSR mode), as std::nearbyint does.
void quantize_row_avx2(const float* x, int64_t K, int8_t* q, float* scale) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  __m256 vmax = _mm256_setzero_ps();
  __m256 nonfinite = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    const __m256 a = _mm256_and_ps(_mm256_loadu_ps(x + k), abs_mask);
    nonfinite = _mm256_or_ps(nonfinite, _mm256_cmp_ps(a, inf, _CMP_NLT_UQ));  // inf or NaN
    vmax = _mm256_max_ps(vmax, a);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, vmax);
  float amax = 0.0f;
  for (float v : lanes) amax = std::max(amax, v);
  bool finite = _mm256_movemask_ps(nonfinite) == 0;
  for (; k < K; ++k) {
    finite = finite && std::isfinite(x[k]);
    amax = std::max(amax, std::fabs(x[k]));
  }
  const float s = row_scale(amax, finite);
  *scale = s;
  if (!(s > 0.0f)) {
    std::fill(q, q + K, int8_t(0));
    return;
  }
  const __m256 vs = _mm256_set1_ps(s);
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  auto conv = [&](const float* p) {
    const __m256i v = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(p), vs));
    return _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
  };
  k = 0;
  for (; k + 32 <= K; k += 32) {
    // packs work per 128-bit lane: bytes come out as dwords [a0 b0 c0 d0 a1 b1 c1 d1]; the
    // permutation puts the dwords back in order.
    const __m256i ab = _mm256_packs_epi32(conv(x + k), conv(x + k + 8));
    const __m256i cd = _mm256_packs_epi32(conv(x + k + 16), conv(x + k + 24));
    const __m256i bytes = _mm256_packs_epi16(ab, cd);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + k),
                        _mm256_permutevar8x32_epi32(bytes, order));
  }
  for (; k < K; ++k) q[k] = quantize_one(x[k], s);
}
#endif

// ---------------------------------------------------------------------------------------------
// The engine's own kernels: MT rows of qx against R rows of qw, exact int32 sums, then scaled.

inline void put(float* y, float v, bool acc) {
  *y = acc ? *y + v : v;
}

// Writes the scaled results of an MT x R tile of integer sums.
template <int MT, int R>
inline void store_tile(const int32_t (&s)[MT][R], const float* sx, const float* sw, float* y,
                       int64_t ldy, bool acc) {
  for (int m = 0; m < MT; ++m)
    for (int j = 0; j < R; ++j) put(y + m * ldy + j, float(s[m][j]) * (sx[m] * sw[j]), acc);
}

[[maybe_unused]] void tile_scalar(const int8_t* x, int64_t mt, int64_t ldx, const int8_t* w,
                                  int64_t r, int64_t ldw, int64_t K, const float* sx,
                                  const float* sw, float* y, int64_t ldy, bool acc) {
  for (int64_t m = 0; m < mt; ++m)
    for (int64_t j = 0; j < r; ++j) {
      int32_t s = 0;
      for (int64_t k = 0; k < K; ++k) s += int32_t(x[m * ldx + k]) * int32_t(w[j * ldw + k]);
      put(y + m * ldy + j, float(s) * (sx[m] * sw[j]), acc);
    }
}

#if defined(__AVX2__)
inline int32_t hsum_epi32(__m256i v) {
  alignas(32) int32_t t[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(t), v);
  int32_t s = 0;
  for (int32_t e : t) s += e;
  return s;
}

// AVX2: 16 int8 at a time widened to int16; vpmaddwd sums pairs into int32 (exact).
template <int MT, int R>
void tile_avx2(const int8_t* x, int64_t ldx, const int8_t* w, int64_t ldw, int64_t K,
               const float* sx, const float* sw, float* y, int64_t ldy, bool acc) {
  __m256i a[MT][R];
  for (int m = 0; m < MT; ++m)
    for (int j = 0; j < R; ++j) a[m][j] = _mm256_setzero_si256();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m256i wv[R];
    for (int j = 0; j < R; ++j)
      wv[j] =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + j * ldw + k)));
    for (int m = 0; m < MT; ++m) {
      const __m256i xv =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + m * ldx + k)));
      for (int j = 0; j < R; ++j) a[m][j] = _mm256_add_epi32(a[m][j], _mm256_madd_epi16(xv, wv[j]));
    }
  }
  int32_t s[MT][R];
  for (int m = 0; m < MT; ++m)
    for (int j = 0; j < R; ++j) {
      int32_t v = hsum_epi32(a[m][j]);
      for (int64_t kk = k; kk < K; ++kk) v += int32_t(x[m * ldx + kk]) * int32_t(w[j * ldw + kk]);
      s[m][j] = v;
    }
  store_tile<MT, R>(s, sx, sw, y, ldy, acc);
}

template <int MT>
void rows_avx2(const int8_t* x, int64_t ldx, const WeightView& w, int64_t n0, int64_t n1,
               const float* sx, float* y, int64_t ldy, bool acc) {
  constexpr int R = MT <= 2 ? 4 : 2;
  const int8_t* wd = static_cast<const int8_t*>(w.data);
  int64_t n = n0;
  for (; n + R <= n1; n += R)
    tile_avx2<MT, R>(x, ldx, wd + n * w.ld, w.ld, w.cols, sx, w.scales + n, y + n, ldy, acc);
  for (; n < n1; ++n)
    tile_avx2<MT, 1>(x, ldx, wd + n * w.ld, w.ld, w.cols, sx, w.scales + n, y + n, ldy, acc);
}
#endif

// Sum of the 16 lanes (GCC 12's reduction intrinsics trip -Wuninitialized).
__attribute__((target("avx512f"))) inline int32_t hsum512_epi32(__m512i v) {
  alignas(64) int32_t t[16];
  _mm512_store_si512(t, v);
  int32_t s = 0;
  for (int32_t e : t) s += e;
  return s;
}

// AVX512-VNNI: vpdpbusd multiplies unsigned by signed bytes, so x comes in as x + 128 (its sign
// bit flipped, see own_matmul) and 128 * sum_k qw is taken off again: the view's row sums when
// it spans whole rows, else sums taken alongside (vpdpbusd with a vector of ones).
// One step of 64 k: a[m][j] += (x_m + 128) . w_j (and c[j] += sum of w_j when kSums).
template <int MT, int R, bool kSums>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void vnni_step(
    __m512i (&a)[MT][R], __m512i (&c)[R], const __m512i (&wv)[R], const uint8_t* x, int64_t ldx,
    __mmask64 mask) {
  if constexpr (kSums) {
    const __m512i ones = _mm512_set1_epi8(1);
    for (int j = 0; j < R; ++j) c[j] = _mm512_dpbusd_epi32(c[j], ones, wv[j]);
  }
  for (int m = 0; m < MT; ++m) {
    const __m512i xv = _mm512_maskz_loadu_epi8(mask, x + m * ldx);
    for (int j = 0; j < R; ++j) a[m][j] = _mm512_dpbusd_epi32(a[m][j], xv, wv[j]);
  }
}

template <int MT, int R, bool kSums>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void tile_vnni(
    const uint8_t* x, int64_t ldx, const int8_t* w, int64_t ldw, int64_t K, const int32_t* rs,
    const float* sx, const float* sw, float* y, int64_t ldy, bool acc) {
  __m512i a[MT][R], c[R];
  for (int j = 0; j < R; ++j) {
    c[j] = _mm512_setzero_si512();
    for (int m = 0; m < MT; ++m) a[m][j] = _mm512_setzero_si512();
  }
  int64_t k = 0;
  for (; k + 64 <= K; k += 64) {
    __m512i wv[R];
    for (int j = 0; j < R; ++j) wv[j] = _mm512_loadu_si512(w + j * ldw + k);
    vnni_step<MT, R, kSums>(a, c, wv, x + k, ldx, ~__mmask64(0));
  }
  if (k < K) {
    // Masked-off lanes load as 0 in x and w alike.
    const __mmask64 mask = __mmask64((1ull << (K - k)) - 1);
    __m512i wv[R];
    for (int j = 0; j < R; ++j) wv[j] = _mm512_maskz_loadu_epi8(mask, w + j * ldw + k);
    vnni_step<MT, R, kSums>(a, c, wv, x + k, ldx, mask);
  }
  int32_t s[MT][R];
  for (int j = 0; j < R; ++j) {
    const int32_t corr = 128 * (kSums ? hsum512_epi32(c[j]) : rs[j]);
    for (int m = 0; m < MT; ++m) s[m][j] = hsum512_epi32(a[m][j]) - corr;
  }
  store_tile<MT, R>(s, sx, sw, y, ldy, acc);
}

template <int MT, bool kSums>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void rows_vnni_sums(
    const uint8_t* x, int64_t ldx, const WeightView& w, int64_t n0, int64_t n1, const float* sx,
    float* y, int64_t ldy, bool acc) {
  constexpr int R = 4;
  const int8_t* wd = static_cast<const int8_t*>(w.data);
  const int32_t* rs = w.row_sums;
  auto sums = [rs](int64_t n) { return kSums ? nullptr : rs + n; };
  int64_t n = n0;
  for (; n + R <= n1; n += R)
    tile_vnni<MT, R, kSums>(x, ldx, wd + n * w.ld, w.ld, w.cols, sums(n), sx, w.scales + n, y + n,
                            ldy, acc);
  for (; n < n1; ++n)
    tile_vnni<MT, 1, kSums>(x, ldx, wd + n * w.ld, w.ld, w.cols, sums(n), sx, w.scales + n, y + n,
                            ldy, acc);
}

template <int MT>
void rows_vnni(const uint8_t* x, int64_t ldx, const WeightView& w, int64_t n0, int64_t n1,
               const float* sx, float* y, int64_t ldy, bool acc) {
  if (w.row_sums) {
    rows_vnni_sums<MT, false>(x, ldx, w, n0, n1, sx, y, ldy, acc);
  } else {
    rows_vnni_sums<MT, true>(x, ldx, w, n0, n1, sx, y, ldy, acc);
  }
}

// Output columns [n0, n1) for all M rows, in tiles of up to 4 rows.
// Calls f(std::integral_constant<int, MT>{}) with MT = mt, for row tiles of 1 to 4 rows.
template <class F>
void with_row_tile(int64_t mt, F&& f) {
  switch (mt) {
    case 1:
      f(std::integral_constant<int, 1>{});
      break;
    case 2:
      f(std::integral_constant<int, 2>{});
      break;
    case 3:
      f(std::integral_constant<int, 3>{});
      break;
    default:
      f(std::integral_constant<int, 4>{});
      break;
  }
}

void own_range(const int8_t* q, int64_t M, int64_t ldq, const float* sx, const WeightView& w,
               bool vnni, int64_t n0, int64_t n1, float* y, int64_t ldy, bool acc) {
  for (int64_t m0 = 0; m0 < M; m0 += 4) {
    const int64_t mt = std::min<int64_t>(4, M - m0);
    const int8_t* x = q + m0 * ldq;
    const float* s = sx + m0;
    float* yt = y + m0 * ldy;
    if (vnni) {
      const auto* xu = reinterpret_cast<const uint8_t*>(x);  // x + 128
      with_row_tile(mt, [&](auto MT) { rows_vnni<MT.value>(xu, ldq, w, n0, n1, s, yt, ldy, acc); });
      continue;
    }
#if defined(__AVX2__)
    with_row_tile(mt, [&](auto MT) { rows_avx2<MT.value>(x, ldq, w, n0, n1, s, yt, ldy, acc); });
#else
    tile_scalar(x, mt, ldq, static_cast<const int8_t*>(w.data) + n0 * w.ld, n1 - n0, w.ld, w.cols,
                s, w.scales + n0, yt + n0, ldy, acc);
#endif
  }
}

// q is the quantized x; with VNNI it is turned into x + 128 in place (the sign bit flipped).
void own_matmul(Context& ctx, int8_t* q, int64_t M, int64_t ldq, const float* sx,
                const WeightView& w, float* y, int64_t ldy, bool acc) {
  const int64_t N = w.rows;
  const bool vnni = ctx.avx512() && cpu_has_avx512_vnni();
  if (vnni)
    for (int64_t i = 0; i < M * ldq; ++i) q[i] = int8_t(uint8_t(q[i]) ^ 0x80u);
  // Chunks of 16 output columns spread evenly over the threads.
  const int64_t chunks = (N + 15) / 16;
  const int threads = int(std::min<int64_t>(ctx.threads(), chunks));
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t n0 = std::min(N, chunks * t / nt * 16);
    const int64_t n1 = std::min(N, chunks * (t + 1) / nt * 16);
    if (n0 < n1) own_range(q, M, ldq, sx, w, vnni, n0, n1, y, ldy, acc);
  }
}

// ---------------------------------------------------------------------------------------------
// oneDNN path: s8 x s8 -> f32 (the exact integer sums converted to float), scaled afterwards.

// Integer sums (as f32) into d [M, N] with row stride ldd; false when oneDNN has no usable
// implementation.
bool onednn_sums(Context& ctx, const int8_t* q, int64_t M, const WeightView& w, float* d,
                 int64_t ldd) {
  const int64_t K = w.cols, N = w.rows;
  const MatmulKey key{M, N, K, K, w.ld, ldd, DType::I8, false, ctx.threads()};
  OmpThreadScope scope(ctx.threads());
  MatmulPrimitive* p = onednn_primitive(ctx, key);
  if (!p) return false;
  run_onednn(ctx, *p, key, q, w.data, d);
  return true;
}

// y[m, n] (+)= d[m, n] * (sx[m] * sw[n]); d may be y itself (not accumulating).
void apply_scales(Context& ctx, const float* d, int64_t ldd, int64_t M, int64_t N, const float* sx,
                  const float* sw, float* y, int64_t ldy, bool acc) {
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (int64_t m = 0; m < M; ++m) {
    const float* dr = d + m * ldd;
    float* yr = y + m * ldy;
    const float s = sx[m];
    if (acc) {
      for (int64_t n = 0; n < N; ++n) yr[n] += dr[n] * (s * sw[n]);
    } else {
      for (int64_t n = 0; n < N; ++n) yr[n] = dr[n] * (s * sw[n]);
    }
  }
}

}  // namespace

bool cpu_has_avx512_vnni() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512vnni");
  return has;
}

bool cpu_has_vnni() {
  static const bool has = cpu_has_avx512_vnni() || __builtin_cpu_supports("avxvnni");
  return has;
}

void quantize_rows_int8(const float* x, int64_t M, int64_t K, int64_t ldx, int8_t* q, int64_t ldq,
                        float* scales) {
  check(M >= 0 && K >= 0 && ldx >= K && ldq >= K, "int8 row quantization: bad sizes (M=", M,
        ", K=", K, ", ldx=", ldx, ", ldq=", ldq, ")");
  for (int64_t m = 0; m < M; ++m) {
#if defined(__AVX2__)
    quantize_row_avx2(x + m * ldx, K, q + m * ldq, scales + m);
#else
    quantize_row_scalar(x + m * ldx, K, q + m * ldq, scales + m);
#endif
  }
}

void matmul_int8(Context& ctx, const float* x, int64_t M, int64_t ldx, const WeightView& w,
                 float* y, int64_t ldy, bool accumulate) {
  const int64_t K = w.cols, N = w.rows;
  check(w.dtype == DType::I8, "matmul_int8: weights are ", dtype_name(w.dtype), ", not I8");
  check(w.scales != nullptr, "int8 matmul: the weights have no scales");
  check(K <= kMaxInt8K, "int8 matmul: K=", K, " is above the int32-exact limit of ", kMaxInt8K);
  // Scratch: qx [M, K], sx [M], then (oneDNN, accumulating) the sums [M, N].
  const size_t q_bytes = round_up64(size_t(M * K)), s_bytes = round_up64(size_t(M) * 4);
  const bool use_onednn = M > ctx.matmul_small_m() && cpu_has_vnni();
  const size_t d_bytes = use_onednn && accumulate ? size_t(M * N) * 4 : 0;
  auto* base =
      static_cast<std::byte*>(ctx.scratch(Scratch::MatmulInput, q_bytes + s_bytes + d_bytes));
  auto* q = reinterpret_cast<int8_t*>(base);
  auto* sx = reinterpret_cast<float*>(base + q_bytes);
#pragma omp parallel for num_threads(ctx.threads()) schedule(static) if (M >= 16)
  for (int64_t m = 0; m < M; ++m) quantize_rows_int8(x + m * ldx, 1, K, ldx, q + m * K, K, sx + m);

  if (use_onednn) {
    float* d = accumulate ? reinterpret_cast<float*>(base + q_bytes + s_bytes) : y;
    const int64_t ldd = accumulate ? N : ldy;
    if (onednn_sums(ctx, q, M, w, d, ldd)) {
      apply_scales(ctx, d, ldd, M, N, sx, w.scales, y, ldy, accumulate);
      return;
    }
  }
  own_matmul(ctx, q, M, K, sx, w, y, ldy, accumulate);
}

}  // namespace yopo::ops
