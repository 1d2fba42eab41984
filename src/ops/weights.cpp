#include "ops/weights.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
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

// Where an I8 matrix's row sums start in its data.
int64_t row_sums_offset(int64_t rows, int64_t cols) {
  return (rows * cols + 63) / 64 * 64;
}

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
  if (t == DType::I8) return 1;
  fail("weight matrices are F32, BF16 or I8, not ", dtype_name(t));
}

namespace {

// Sizes and data of a matrix to be made: sizes not negative, data present unless empty.
void check_source(const void* w, int64_t rows, int64_t cols) {
  check(rows >= 0 && cols >= 0, "weight matrix sizes must not be negative (", rows, " x ", cols,
        ")");
  check(rows * cols == 0 || w != nullptr, "weight matrix data is null");
}

}  // namespace

WeightMatrix WeightMatrix::from_f32(const float* w, int64_t rows, int64_t cols, DType target) {
  const int64_t esize = weight_element_bytes(target);
  if (target == DType::I8) return quantize_int8(w, rows, cols);
  check_source(w, rows, cols);
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

WeightMatrix WeightMatrix::quantize_int8(const float* w, int64_t rows, int64_t cols) {
  check_source(w, rows, cols);
  WeightMatrix m;
  m.dtype = DType::I8;
  m.rows = rows;
  m.cols = cols;
  m.data = AlignedBuffer(size_t(row_sums_offset(rows, cols) + rows * 4));
  m.scales.assign(size_t(rows), 0.0f);
  int8_t* q = m.data.as<int8_t>();
  auto* sums = reinterpret_cast<int32_t*>(m.data.data() + row_sums_offset(rows, cols));
  if (m.data.data())  // the padding between values and sums, so that copies compare equal
    std::memset(m.data.data() + rows * cols, 0, size_t(row_sums_offset(rows, cols) - rows * cols));
  int64_t bad_row = -1;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* wr = w + r * cols;
    int8_t* qr = q + r * cols;
    float amax = 0.0f;
    bool finite = true;
    for (int64_t c = 0; c < cols; ++c) {
      finite = finite && std::isfinite(wr[c]);
      amax = std::max(amax, std::fabs(wr[c]));
    }
    if (!finite) {
#pragma omp critical
      bad_row = bad_row < 0 ? r : std::min(bad_row, r);
      continue;
    }
    const float s = amax / 127.0f;
    if (!(s > 0.0f)) {  // zeros (or values so small that the scale underflows): zeros, scale 0
      std::memset(qr, 0, size_t(cols));
      sums[r] = 0;
      continue;
    }
    m.scales[size_t(r)] = s;
    int32_t sum = 0;
    for (int64_t c = 0; c < cols; ++c) {
      const float v = std::nearbyint(wr[c] / s);
      qr[c] = int8_t(std::clamp(v, -127.0f, 127.0f));
      sum += qr[c];
    }
    sums[r] = sum;
  }
  check(bad_row < 0, "int8 quantization: weight row ", bad_row, " holds a non-finite value");
  return m;
}

WeightMatrix WeightMatrix::from_bf16(const uint16_t* w, int64_t rows, int64_t cols) {
  check_source(w, rows, cols);
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
  if (dtype == DType::I8) {
    v.scales = scales.empty() ? nullptr : scales.data() + r0;
    if (c0 == 0 && nc == cols && row_sums()) v.row_sums = row_sums() + r0;
  }
  return v;
}

WeightView WeightMatrix::full() const {
  return view(0, rows, 0, cols);
}

void WeightMatrix::row_to_f32(int64_t r, float* out) const {
  check(r >= 0 && r < rows, "weight row ", r, " is outside the ", rows, "-row matrix");
  if (dtype == DType::F32) {
    const float* src = data.as<float>() + r * cols;
    std::copy(src, src + cols, out);
  } else if (dtype == DType::BF16) {
    const uint16_t* src = data.as<uint16_t>() + r * cols;
    for (int64_t c = 0; c < cols; ++c) out[c] = bf16_to_f32(src[c]);
  } else {
    check(dtype == DType::I8, "weight matrices are F32, BF16 or I8, not ", dtype_name(dtype));
    const int8_t* src = data.as<int8_t>() + r * cols;
    const float s = scales[size_t(r)];
    for (int64_t c = 0; c < cols; ++c) out[c] = float(src[c]) * s;
  }
}

const int32_t* WeightMatrix::row_sums() const {
  if (dtype != DType::I8 || !data.data()) return nullptr;
  return reinterpret_cast<const int32_t*>(data.data() + row_sums_offset(rows, cols));
}

int64_t WeightMatrix::bytes() const {
  return int64_t(data.size()) + int64_t(scales.size() * sizeof(float));
}

}  // namespace yopo::ops
