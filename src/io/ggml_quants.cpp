// Dequantization of the GGML quantized types yopo supports.
//
// K types (super-blocks of 256 values):
//   Q4_K / Q5_K: 8 sub-blocks of 32 values, each with a 6-bit scale sc[s] and 6-bit min m[s]
//     packed in scales[12]: for s < 4, sc = scales[s] & 63 and m = scales[s + 4] & 63; for
//     s >= 4, sc = (scales[s + 4] & 15) | (scales[s - 4] >> 6) << 4 and
//     m = (scales[s + 4] >> 4) | (scales[s] >> 6) << 4. Sub-blocks 2p and 2p + 1 share the
//     bytes qs[32p .. 32p + 31]: low nibbles for 2p, high nibbles for 2p + 1. In Q5_K bit s of
//     qh[l] is the fifth bit of value l of sub-block s. x = d * sc * q - dmin * m.
//   Q6_K: two halves of 128 values; half h uses ql[64h ..], qh[32h ..], scales[8h ..]. For
//     l < 32 in a half: value l = ql[l] low nibble, value l + 32 = ql[l + 32] low nibble,
//     value l + 64 = ql[l] high nibble, value l + 96 = ql[l + 32] high nibble; their top two
//     bits are bits 0-1, 2-3, 4-5, 6-7 of qh[l]. Value i of the half uses scales[i / 16]:
//     x = d * scale * (q - 32).
#include "io/ggml_quants.h"

#include <cstring>

#if defined(__F16C__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "core/error.h"

namespace yopo {

namespace {

inline float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return f16_to_f32(h);
#endif
}

// Pointers into a block never alias the output.
#define YOPO_RESTRICT __restrict__

void dequant_q4_0(const uint8_t* YOPO_RESTRICT b, float* YOPO_RESTRICT y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 18, y += 32) {
    const float d = half_at(b);
    const uint8_t* qs = b + 2;
    for (int j = 0; j < 16; ++j) y[j] = d * float(int(qs[j] & 15) - 8);
    for (int j = 0; j < 16; ++j) y[j + 16] = d * float(int(qs[j] >> 4) - 8);
  }
}

void dequant_q4_1(const uint8_t* YOPO_RESTRICT b, float* YOPO_RESTRICT y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 20, y += 32) {
    const float d = half_at(b);
    const float m = half_at(b + 2);
    const uint8_t* qs = b + 4;
    for (int j = 0; j < 16; ++j) y[j] = d * float(qs[j] & 15) + m;
    for (int j = 0; j < 16; ++j) y[j + 16] = d * float(qs[j] >> 4) + m;
  }
}

// The 32 five-bit quants of a Q5_0 / Q5_1 block: low nibbles from qs, fifth bits from qh.
inline void q5_values(const uint8_t* YOPO_RESTRICT qs, uint32_t qh, int* YOPO_RESTRICT q) {
  for (int j = 0; j < 16; ++j) q[j] = int(qs[j] & 15) | int((qh >> j) & 1u) << 4;
  for (int j = 0; j < 16; ++j) q[j + 16] = int(qs[j] >> 4) | int((qh >> (j + 16)) & 1u) << 4;
}

void dequant_q5_0(const uint8_t* YOPO_RESTRICT b, float* YOPO_RESTRICT y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 22, y += 32) {
    const float d = half_at(b);
    uint32_t qh;
    std::memcpy(&qh, b + 2, 4);
    int q[32];
    q5_values(b + 6, qh, q);
    for (int j = 0; j < 32; ++j) y[j] = d * float(q[j] - 16);
  }
}

void dequant_q5_1(const uint8_t* YOPO_RESTRICT b, float* YOPO_RESTRICT y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 24, y += 32) {
    const float d = half_at(b);
    const float m = half_at(b + 2);
    uint32_t qh;
    std::memcpy(&qh, b + 4, 4);
    int q[32];
    q5_values(b + 8, qh, q);
    for (int j = 0; j < 32; ++j) y[j] = d * float(q[j]) + m;
  }
}

void dequant_q8_0(const uint8_t* YOPO_RESTRICT b, float* YOPO_RESTRICT y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 34, y += 32) {
    const float d = half_at(b);
    const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
    for (int j = 0; j < 32; ++j) y[j] = d * float(qs[j]);
  }
}

// Unpacks the eight 6-bit scales and mins of a Q4_K / Q5_K super-block.
inline void unpack_k_scales(const uint8_t* s, uint8_t sc[8], uint8_t mn[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 63;
    mn[j] = s[j + 4] & 63;
    sc[j + 4] = uint8_t((s[j + 8] & 15) | ((s[j] >> 6) << 4));
    mn[j + 4] = uint8_t((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
  }
}

void dequant_q4_k(const uint8_t* YOPO_RESTRICT b, float* YOPO_RESTRICT y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 144, y += 256) {
    const float d = half_at(b);
    const float dmin = half_at(b + 2);
    uint8_t sc[8], mn[8];
    unpack_k_scales(b + 4, sc, mn);
    const uint8_t* qs = b + 16;
    for (int p = 0; p < 4; ++p) {
      const float d0 = d * float(sc[2 * p]), m0 = dmin * float(mn[2 * p]);
      const float d1 = d * float(sc[2 * p + 1]), m1 = dmin * float(mn[2 * p + 1]);
      const uint8_t* q = qs + 32 * p;
      float* out = y + 64 * p;
      for (int l = 0; l < 32; ++l) out[l] = d0 * float(q[l] & 15) - m0;
      for (int l = 0; l < 32; ++l) out[l + 32] = d1 * float(q[l] >> 4) - m1;
    }
  }
}

void dequant_q5_k(const uint8_t* YOPO_RESTRICT b, float* YOPO_RESTRICT y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 176, y += 256) {
    const float d = half_at(b);
    const float dmin = half_at(b + 2);
    uint8_t sc[8], mn[8];
    unpack_k_scales(b + 4, sc, mn);
    const uint8_t* qh = b + 16;
    const uint8_t* qs = b + 48;
    for (int p = 0; p < 4; ++p) {
      const int s0 = 2 * p, s1 = 2 * p + 1;
      const float d0 = d * float(sc[s0]), m0 = dmin * float(mn[s0]);
      const float d1 = d * float(sc[s1]), m1 = dmin * float(mn[s1]);
      const uint8_t* q = qs + 32 * p;
      float* out = y + 64 * p;
      for (int l = 0; l < 32; ++l)
        out[l] = d0 * float((q[l] & 15) | (((qh[l] >> s0) & 1) << 4)) - m0;
      for (int l = 0; l < 32; ++l)
        out[l + 32] = d1 * float((q[l] >> 4) | (((qh[l] >> s1) & 1) << 4)) - m1;
    }
  }
}

void dequant_q6_k(const uint8_t* YOPO_RESTRICT b, float* YOPO_RESTRICT y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 210, y += 256) {
    const float d = half_at(b + 208);
    const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* qh = b + 128 + 32 * h;
      // Quarter k of the half: low bits from ql[64h + 32 (k % 2) + l], nibble k / 2; top bits
      // from bits 2k, 2k+1 of qh[l]; values 16g .. 16g + 15 of the quarter use scale 2k + g.
      for (int k = 0; k < 4; ++k) {
        const uint8_t* ql = b + 64 * h + 32 * (k % 2);
        const int lo_shift = 4 * (k / 2), hi_shift = 2 * k;
        float* out = y + 128 * h + 32 * k;
        for (int g = 0; g < 2; ++g) {
          const float s = d * float(scales[8 * h + 2 * k + g]);
          for (int l = 16 * g; l < 16 * g + 16; ++l) {
            const int q = ((ql[l] >> lo_shift) & 15) | (((qh[l] >> hi_shift) & 3) << 4);
            out[l] = s * float(q - 32);
          }
        }
      }
    }
  }
}

#if defined(__AVX2__)
// AVX2 versions. They compute each value with the same float operations, in the same order,
// as the scalar code above (multiply, then add; no fused multiply-add), so both give
// bit-identical results.
namespace avx2 {

inline __m256i low_nibbles(__m256i v) {
  return _mm256_and_si256(v, _mm256_set1_epi8(15));
}

// 32 signed bytes -> 32 floats, out[i] = scale * float(q[i]).
inline void emit_signed(__m256i q, float* out, __m256 scale) {
  const __m128i halves[2] = {_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)};
  for (int k = 0; k < 4; ++k) {
    const __m128i part = k % 2 ? _mm_srli_si128(halves[k / 2], 8) : halves[k / 2];
    const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part));
    _mm256_storeu_ps(out + 8 * k, _mm256_mul_ps(scale, f));
  }
}

// 32 unsigned bytes -> 32 floats, out[i] = scale * float(q[i]) + offset.
inline void emit_unsigned(__m256i q, float* out, __m256 scale, __m256 offset) {
  const __m128i halves[2] = {_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)};
  for (int k = 0; k < 4; ++k) {
    const __m128i part = k % 2 ? _mm_srli_si128(halves[k / 2], 8) : halves[k / 2];
    const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(part));
    _mm256_storeu_ps(out + 8 * k, _mm256_add_ps(_mm256_mul_ps(scale, f), offset));
  }
}

// The 32 nibbles of 16 bytes: low nibbles in bytes 0-15, high nibbles in bytes 16-31.
inline __m256i nibbles16(const uint8_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i m = _mm_set1_epi8(15);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

// Byte j = 16 when bit j of qh is set, else 0.
inline __m256i fifth_bits(uint32_t qh) {
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(int(qh)), _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                   2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(16));
}

// Bits [shift, shift + width) of each byte (width 1 or 2), as bytes.
inline __m256i byte_bits(__m256i v, int shift, int mask) {
  return _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(shift)),
                          _mm256_set1_epi8(char(mask)));
}

void q4_0(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 18, y += 32) {
    const __m256i q = _mm256_sub_epi8(nibbles16(b + 2), _mm256_set1_epi8(8));
    emit_signed(q, y, _mm256_set1_ps(half_at(b)));
  }
}

void q4_1(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 20, y += 32)
    emit_unsigned(nibbles16(b + 4), y, _mm256_set1_ps(half_at(b)), _mm256_set1_ps(half_at(b + 2)));
}

void q5_0(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 22, y += 32) {
    uint32_t qh;
    std::memcpy(&qh, b + 2, 4);
    const __m256i q = _mm256_or_si256(nibbles16(b + 6), fifth_bits(qh));
    emit_signed(_mm256_sub_epi8(q, _mm256_set1_epi8(16)), y, _mm256_set1_ps(half_at(b)));
  }
}

void q5_1(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 24, y += 32) {
    uint32_t qh;
    std::memcpy(&qh, b + 4, 4);
    const __m256i q = _mm256_or_si256(nibbles16(b + 8), fifth_bits(qh));
    emit_unsigned(q, y, _mm256_set1_ps(half_at(b)), _mm256_set1_ps(half_at(b + 2)));
  }
}

void q8_0(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 34, y += 32)
    emit_signed(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2)), y,
                _mm256_set1_ps(half_at(b)));
}

void q45_k(bool five, const uint8_t* b, float* y, int64_t nb) {
  const int64_t bytes = five ? 176 : 144;
  for (int64_t i = 0; i < nb; ++i, b += bytes, y += 256) {
    const float d = half_at(b);
    const float dmin = half_at(b + 2);
    uint8_t sc[8], mn[8];
    unpack_k_scales(b + 4, sc, mn);
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 16));
    const uint8_t* qs = b + (five ? 48 : 16);
    for (int p = 0; p < 4; ++p) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * p));
      __m256i lo = low_nibbles(q);
      __m256i hi = low_nibbles(_mm256_srli_epi16(q, 4));
      if (five) {
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(byte_bits(qh, 2 * p, 1), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(byte_bits(qh, 2 * p + 1, 1), 4));
      }
      const int s0 = 2 * p, s1 = 2 * p + 1;
      emit_unsigned(lo, y + 64 * p, _mm256_set1_ps(d * float(sc[s0])),
                    _mm256_set1_ps(-(dmin * float(mn[s0]))));
      emit_unsigned(hi, y + 64 * p + 32, _mm256_set1_ps(d * float(sc[s1])),
                    _mm256_set1_ps(-(dmin * float(mn[s1]))));
    }
  }
}

void q6_k(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 210, y += 256) {
    const float d = half_at(b + 208);
    const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
    for (int h = 0; h < 2; ++h) {
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 128 + 32 * h));
      for (int k = 0; k < 4; ++k) {
        const __m256i ql =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 64 * h + 32 * (k % 2)));
        const __m256i lo = low_nibbles(k < 2 ? ql : _mm256_srli_epi16(ql, 4));
        const __m256i q =
            _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(byte_bits(qh, 2 * k, 3), 4)),
                            _mm256_set1_epi8(32));
        // Values 0-15 of the quarter use scale 2k, values 16-31 scale 2k + 1.
        const float s0 = d * float(scales[8 * h + 2 * k]);
        const float s1 = d * float(scales[8 * h + 2 * k + 1]);
        float* out = y + 128 * h + 32 * k;
        const __m128i halves[2] = {_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)};
        for (int g = 0; g < 4; ++g) {
          const __m128i part = g % 2 ? _mm_srli_si128(halves[g / 2], 8) : halves[g / 2];
          const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part));
          _mm256_storeu_ps(out + 8 * g, _mm256_mul_ps(_mm256_set1_ps(g < 2 ? s0 : s1), f));
        }
      }
    }
  }
}

}  // namespace avx2
#endif  // __AVX2__

#undef YOPO_RESTRICT

void check_args(DType t, int64_t n) {
  check(dtype_is_quantized(t), "dequantize_row: ", dtype_name(t), " is not a quantized type");
  const int64_t be = dtype_block_elems(t);
  check(n >= 0 && n % be == 0, "dequantize_row: ", n, " values is not a multiple of the ",
        dtype_name(t), " block size ", be);
}

}  // namespace

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
#if defined(__AVX2__)
  check_args(t, n);
  const int64_t nb = n / dtype_block_elems(t);
  const uint8_t* b = static_cast<const uint8_t*>(src);
  switch (t) {
    case DType::Q4_0:
      return avx2::q4_0(b, dst, nb);
    case DType::Q4_1:
      return avx2::q4_1(b, dst, nb);
    case DType::Q5_0:
      return avx2::q5_0(b, dst, nb);
    case DType::Q5_1:
      return avx2::q5_1(b, dst, nb);
    case DType::Q8_0:
      return avx2::q8_0(b, dst, nb);
    case DType::Q4_K:
      return avx2::q45_k(false, b, dst, nb);
    case DType::Q5_K:
      return avx2::q45_k(true, b, dst, nb);
    case DType::Q6_K:
      return avx2::q6_k(b, dst, nb);
    default:
      break;
  }
#endif
  dequantize_row_scalar(t, src, dst, n);
}

void dequantize_row_scalar(DType t, const void* src, float* dst, int64_t n) {
  check_args(t, n);
  const int64_t nb = n / dtype_block_elems(t);
  const uint8_t* b = static_cast<const uint8_t*>(src);
  switch (t) {
    case DType::Q4_0:
      return dequant_q4_0(b, dst, nb);
    case DType::Q4_1:
      return dequant_q4_1(b, dst, nb);
    case DType::Q5_0:
      return dequant_q5_0(b, dst, nb);
    case DType::Q5_1:
      return dequant_q5_1(b, dst, nb);
    case DType::Q8_0:
      return dequant_q8_0(b, dst, nb);
    case DType::Q4_K:
      return dequant_q4_k(b, dst, nb);
    case DType::Q5_K:
      return dequant_q5_k(b, dst, nb);
    case DType::Q6_K:
      return dequant_q6_k(b, dst, nb);
    default:
      fail("dequantize_row: no dequantizer for ", dtype_name(t));
  }
}

}  // namespace yopo
