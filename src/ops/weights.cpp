#include "ops/weights.h"

#include <immintrin.h>

#include <cstring>

#include "core/error.h"

namespace yopo::ops {

namespace {

void round_scalar(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

// AVX512-BF16 conversion (nearest even, quiet NaN). The instruction flushes subnormal inputs
// to zero, so chunks holding any subnormal are redone exactly in scalar code.
__attribute__((target("avx512f"))) inline bool has_subnormal(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __mmask16 zero_exp = _mm512_testn_epi32_mask(u, _mm512_set1_epi32(0x7f800000));
  const __mmask16 nonzero = _mm512_test_epi32_mask(u, _mm512_set1_epi32(0x7fffffff));
  return (zero_exp & nonzero) != 0;
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void round_avx512(const float* src,
                                                                                  uint16_t* dst,
                                                                                  int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 lo = _mm512_loadu_ps(src + i);
    const __m512 hi = _mm512_loadu_ps(src + i + 16);
    if (has_subnormal(lo) || has_subnormal(hi)) {
      round_scalar(src + i, dst + i, 32);
      continue;
    }
    _mm512_storeu_si512(dst + i, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
  }
  round_scalar(src + i, dst + i, n - i);
}

#if defined(__AVX2__)
void round_avx2(const float* src, uint16_t* dst, int64_t n) {
  const __m256i bias = _mm256_set1_epi32(0x7fff);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf = _mm256_set1_epi32(0x7f800000);
  const __m256i quiet = _mm256_set1_epi32(0x40);
  auto convert8 = [&](const float* p) {
    const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(p));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
    const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, bias), lsb), 16);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
    const __m256i quieted = _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet);
    return _mm256_blendv_epi8(rounded, quieted, nan);
  };
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i a = convert8(src + i), b = convert8(src + i + 8);
    // packus works per 128-bit lane: [a0 b0 a1 b1] -> reorder to [a0 a1 b0 b1].
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), packed);
  }
  round_scalar(src + i, dst + i, n - i);
}
#endif

}  // namespace

void round_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  if (n <= 0) return;
  static const bool has_bf16 = __builtin_cpu_supports("avx512bf16");
  if (has_bf16) return round_avx512(src, dst, n);
#if defined(__AVX2__)
  round_avx2(src, dst, n);
#else
  round_scalar(src, dst, n);
#endif
}

int64_t weight_element_bytes(DType t) {
  if (t == DType::F32) return 4;
  if (t == DType::BF16) return 2;
  fail("weight matrices are F32 or BF16, not ", dtype_name(t));
}

WeightMatrix WeightMatrix::from_f32(const float* w, int64_t rows, int64_t cols, DType target) {
  check(rows >= 0 && cols >= 0, "weight matrix sizes must not be negative (", rows, " x ", cols,
        ")");
  const int64_t esize = weight_element_bytes(target);
  check(rows * cols == 0 || w != nullptr, "weight matrix data is null");
  WeightMatrix m;
  m.dtype = target;
  m.rows = rows;
  m.cols = cols;
  m.data = AlignedBuffer(size_t(rows * cols * esize));
  if (rows * cols == 0) return m;
  if (target == DType::F32) {
    std::memcpy(m.data.data(), w, size_t(rows * cols) * sizeof(float));
  } else {
    uint16_t* out = m.data.as<uint16_t>();
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) round_to_bf16(w + r * cols, out + r * cols, cols);
  }
  return m;
}

WeightMatrix WeightMatrix::from_bf16(const uint16_t* w, int64_t rows, int64_t cols) {
  check(rows >= 0 && cols >= 0, "weight matrix sizes must not be negative (", rows, " x ", cols,
        ")");
  check(rows * cols == 0 || w != nullptr, "weight matrix data is null");
  WeightMatrix m;
  m.dtype = DType::BF16;
  m.rows = rows;
  m.cols = cols;
  m.data = AlignedBuffer(size_t(rows * cols) * 2);
  if (rows * cols != 0) std::memcpy(m.data.data(), w, size_t(rows * cols) * 2);
  return m;
}

WeightView WeightMatrix::view(int64_t r0, int64_t nr, int64_t c0, int64_t nc) const {
  check(r0 >= 0 && nr >= 0 && r0 + nr <= rows && c0 >= 0 && nc >= 0 && c0 + nc <= cols,
        "weight sub-matrix rows [", r0, ", ", r0 + nr, ") cols [", c0, ", ", c0 + nc,
        ") is outside the ", rows, " x ", cols, " matrix");
  const int64_t esize = weight_element_bytes(dtype);
  WeightView v;
  v.dtype = dtype;
  v.data = data.data() ? data.data() + (r0 * cols + c0) * esize : nullptr;
  v.rows = nr;
  v.cols = nc;
  v.ld = cols;
  return v;
}

WeightView WeightMatrix::full() const {
  return view(0, rows, 0, cols);
}

}  // namespace yopo::ops
