// Dequantization of GGML block-quantized tensor data to float32.
//
// Block layouts (all little-endian, f16 = IEEE half):
//   Q4_0  (32 values, 18 bytes): f16 d, u8 qs[16]            x = d * (q - 8)
//   Q4_1  (32 values, 20 bytes): f16 d, f16 m, u8 qs[16]     x = d * q + m
//   Q5_0  (32 values, 22 bytes): f16 d, u32 qh, u8 qs[16]    x = d * (q - 16)
//   Q5_1  (32 values, 24 bytes): f16 d, f16 m, u32 qh, qs[16] x = d * q + m
//   Q8_0  (32 values, 34 bytes): f16 d, i8 qs[32]            x = d * q
//   Q4_K (256 values, 144 bytes): f16 d, f16 dmin, u8 scales[12], u8 qs[128]
//   Q5_K (256 values, 176 bytes): f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]
//   Q6_K (256 values, 210 bytes): u8 ql[128], u8 qh[64], i8 scales[16], f16 d
// In the 32-value types the low nibble of qs[j] is value j and the high nibble value j + 16;
// bit j of qh is the fifth bit of value j. The K types are described in ggml_quants.cpp.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace yopo {

// Dequantizes n values of the quantized type t from src (n / block_elems blocks) into dst.
// Throws yopo::Error when t is not a quantized type or n is not a multiple of its block size.
// Uses AVX2 when the build targets it.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

// The plain scalar implementation; gives bit-identical results (exposed for tests).
void dequantize_row_scalar(DType t, const void* src, float* dst, int64_t n);

}  // namespace yopo
