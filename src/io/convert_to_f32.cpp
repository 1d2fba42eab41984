// convert_to_f32: any stored float or quantized tensor to float32, in parallel over blocks.
#include <cstring>

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#endif

#include "core/error.h"
#include "io/ggml_quants.h"
#include "io/tensor_source.h"

namespace yopo {

namespace {

// Below this many values a tensor is converted on the calling thread.
constexpr int64_t kParallelMin = int64_t(1) << 16;

void f16_range(const std::byte* src, float* dst, int64_t n) {
  int64_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
#endif
  for (; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = f16_to_f32(h);
  }
}

void bf16_range(const std::byte* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = bf16_to_f32(h);
  }
}

void f64_range(const std::byte* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    double v;
    std::memcpy(&v, src + 8 * i, 8);
    dst[i] = float(v);
  }
}

// Converts values [begin, end) (multiples of the block size, except end == n).
void convert_range(DType t, const std::byte* src, float* dst, int64_t begin, int64_t end) {
  const int64_t be = dtype_block_elems(t);
  const std::byte* s = src + begin / be * dtype_block_bytes(t);
  float* d = dst + begin;
  const int64_t n = end - begin;
  switch (t) {
    case DType::F32:
      std::memcpy(d, s, size_t(n) * 4);
      return;
    case DType::F16:
      return f16_range(s, d, n);
    case DType::BF16:
      return bf16_range(s, d, n);
    case DType::F64:
      return f64_range(s, d, n);
    default:
      return dequantize_row(t, s, d, n);
  }
}

}  // namespace

void convert_to_f32(const RawTensor& t, float* out) {
  switch (t.dtype) {
    case DType::I8:
    case DType::I16:
    case DType::I32:
    case DType::I64:
      fail("tensor '", t.name, "' has type ", dtype_name(t.dtype),
           ", which cannot be converted to float32 (integer tensors are not weights)");
    default:
      break;
  }
  for (int64_t d : t.shape) check(d >= 0, "tensor '", t.name, "' has a negative dimension ", d);
  const int64_t n = t.numel();
  const int64_t be = dtype_block_elems(t.dtype);
  check(n % be == 0, "tensor '", t.name, "' (", dtype_name(t.dtype), ") has ", n,
        " values, not a multiple of the block size ", be);
  const int64_t need = n / be * dtype_block_bytes(t.dtype);
  check(t.nbytes == size_t(need), "tensor '", t.name, "' (", dtype_name(t.dtype), ") holds ",
        t.nbytes, " bytes but its shape needs ", need);
  if (n == 0) return;
  check(t.data != nullptr, "tensor '", t.name, "' has no data");

  if (n < kParallelMin) {
    convert_range(t.dtype, t.data, out, 0, n);
    return;
  }
  // Chunks of whole blocks, about 64K values each.
  const int64_t chunk = (kParallelMin + be - 1) / be * be;
  const int64_t n_chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < n_chunks; ++c) {
    const int64_t begin = c * chunk;
    const int64_t end = begin + chunk < n ? begin + chunk : n;
    convert_range(t.dtype, t.data, out, begin, end);
  }
}

}  // namespace yopo
