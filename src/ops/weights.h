// Weight matrices in the engine's compute format (F32, BF16, or I8 with per-row scales),
// PyTorch Linear layout: rows = output features, cols = input features, row-major.
#pragma once

#include <cstdint>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/dtype.h"

namespace yopo::ops {

// A row-major matrix (or a sub-matrix of one) seen without copying: element (r, c) is at
// data + (r * ld + c) * element size. I8 views also carry the symmetric scale of each of their
// rows: element (r, c) stands for int8 value * scales[r].
struct WeightView {
  DType dtype = DType::F32;
  const void* data = nullptr;
  int64_t rows = 0, cols = 0, ld = 0;
  const float* scales = nullptr;  // I8 only: [rows], per row of the view
  // I8 views of whole rows only (else nullptr): sum of each row's int8 values, which the VNNI
  // kernel needs (ops/matmul_int8.h).
  const int32_t* row_sums = nullptr;
};

struct WeightMatrix {
  DType dtype = DType::F32;  // F32, BF16 or I8
  int64_t rows = 0, cols = 0;
  AlignedBuffer data;
  // I8: data holds the int8 values [rows, cols], then (at the next 64-byte boundary) the int32
  // sum of each row's values (row_sums()).
  std::vector<float> scales;  // I8 only: [rows], w[r, c] ~ int8 data[r, c] * scales[r]

  // Copies w [rows, cols] into a new matrix of dtype target (F32, BF16 rounded to nearest even,
  // or I8 as quantize_int8 does). Throws yopo::Error for another target or negative sizes.
  static WeightMatrix from_f32(const float* w, int64_t rows, int64_t cols, DType target);
  // Symmetric per-row (per output channel) int8: scale_r = max_c |w[r, c]| / 127 (in float),
  // q[r, c] = w[r, c] / scale_r rounded to nearest (ties to even), in [-127, 127]; an all-zero
  // row (or one whose scale underflows to 0) gets scale 0 and zeros. Throws yopo::Error naming
  // the row on a non-finite value.
  static WeightMatrix quantize_int8(const float* w, int64_t rows, int64_t cols);
  // Copies bf16 bits [rows, cols] as they are.
  static WeightMatrix from_bf16(const uint16_t* w, int64_t rows, int64_t cols);

  bool empty() const { return rows == 0 || cols == 0; }
  // Rows [r0, r0 + nr) and cols [c0, c0 + nc); ld stays cols (I8: scales from row r0, and the
  // row sums when the view spans every column).
  // Throws when out of range.
  WeightView view(int64_t r0, int64_t nr, int64_t c0, int64_t nc) const;
  WeightView full() const;
  // Row r as float32 (out [cols]): the values (F32), bf16 widened, or q * scale (I8).
  void row_to_f32(int64_t r, float* out) const;
  // I8: the sum over c of each row's int8 values [rows]; nullptr for other dtypes.
  const int32_t* row_sums() const;
  // Bytes held: data (with the I8 row sums) plus the I8 scales.
  int64_t bytes() const;
};

// Rounds n floats to bfloat16 (nearest even, NaN kept quiet: exactly yopo::f32_to_bf16),
// vectorized (AVX512-BF16 when the CPU has it, else AVX2 or scalar).
void round_to_bf16(const float* src, uint16_t* dst, int64_t n);

// Bytes per element of an engine weight dtype (F32 4, BF16 2, I8 1); throws for other types.
int64_t weight_element_bytes(DType t);

}  // namespace yopo::ops
