// Products against int8 weights (WeightView dtype I8, per-row scales): y = x * W^T with x
// quantized dynamically, row by row, to symmetric int8. ops::matmul dispatches here for I8.
//
// Scheme: w[n, k] ~ qw[n, k] * sw[n] (WeightMatrix::quantize_int8) and, per call,
// x[m, k] ~ qx[m, k] * sx[m] with sx[m] = max_k |x[m, k]| / 127 and qx = x / sx rounded to
// nearest even (symmetric s8, no zero point). The integer sums acc[m, n] = sum_k qx * qw are exact
// (int32; K is limited to kMaxInt8K), and y[m, n] = float(acc) * (sx[m] * sw[n]).
//
// Kernels: with more than Context::matmul_small_m() rows, on a CPU with VNNI, oneDNN's s8:s8:f32
// matmul (oneDNN turns s8 x s8 into the VNNI-native u8 x s8 form by adding 128 to x and
// subtracting 128 * sum_k qw, which stays exact); the scales are applied after it by the engine
// (oneDNN v2 takes per-column output scales only as baked-in values or, at run time, only on
// its slower gemm path, and no per-row factor; a per-row binary post-op sends it to its
// reference code). Otherwise the engine's own kernel: AVX512-VNNI (vpdpbusd on x + 128 with the
// same correction, from the matrix's stored row sums for whole-row views, summed in the kernel
// for column views) when Context::avx512() and the CPU has it, else AVX2 (int16 pair products,
// vpmaddwd), else scalar. All give the same integers.
#pragma once

#include <cstdint>

#include "ops/context.h"
#include "ops/weights.h"

namespace yopo::ops {

// Longest K an int8 product accepts: (127 + 128) * 127 * K must stay below 2^31.
inline constexpr int64_t kMaxInt8K = 65536;

// Quantizes rows x[m, 0..K) (row stride ldx) to q[m * ldq + k] with scales[m], as above. A row
// whose scale is 0 (all zeros, or magnitudes so small that max / 127 underflows) gets scale 0 and
// zeros; a row holding inf or NaN gets scale NaN and zeros (its outputs become NaN).
void quantize_rows_int8(const float* x, int64_t M, int64_t K, int64_t ldx, int8_t* q, int64_t ldq,
                        float* scales);

// y[M,N] (+)= x[M,K] * W^T for I8 weights, as ops::matmul (shapes are checked there; this checks
// the scales and K <= kMaxInt8K).
void matmul_int8(Context& ctx, const float* x, int64_t M, int64_t ldx, const WeightView& w,
                 float* y, int64_t ldy, bool accumulate);

// Whether the CPU has AVX512-VNNI (the engine's own int8 kernel) / any VNNI (oneDNN's int8).
bool cpu_has_avx512_vnni();
bool cpu_has_vnni();

}  // namespace yopo::ops
