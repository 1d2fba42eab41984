// Weight matrices in the engine's compute format (F32 or BF16), PyTorch Linear layout:
// rows = output features, cols = input features, row-major.
#pragma once

#include <cstdint>

#include "core/aligned_buffer.h"
#include "core/dtype.h"

namespace yopo::ops {

// A row-major matrix (or a sub-matrix of one) seen without copying: element (r, c) is at
// data + (r * ld + c) * element size.
struct WeightView {
  DType dtype = DType::F32;
  const void* data = nullptr;
  int64_t rows = 0, cols = 0, ld = 0;
};

struct WeightMatrix {
  DType dtype = DType::F32;  // F32 or BF16
  int64_t rows = 0, cols = 0;
  AlignedBuffer data;

  // Copies w [rows, cols] into a new matrix of dtype target (F32, or BF16 rounded to nearest
  // even). Throws yopo::Error for another target or negative sizes.
  static WeightMatrix from_f32(const float* w, int64_t rows, int64_t cols, DType target);
  // Copies bf16 bits [rows, cols] as they are.
  static WeightMatrix from_bf16(const uint16_t* w, int64_t rows, int64_t cols);

  bool empty() const { return rows == 0 || cols == 0; }
  // Rows [r0, r0 + nr) and cols [c0, c0 + nc); ld stays cols. Throws when out of range.
  WeightView view(int64_t r0, int64_t nr, int64_t c0, int64_t nc) const;
  WeightView full() const;
};

// Rounds n floats to bfloat16 (nearest even, NaN kept quiet: exactly yopo::f32_to_bf16),
// vectorized (AVX512-BF16 when the CPU has it, else AVX2 or scalar).
void round_to_bf16(const float* src, uint16_t* dst, int64_t n);

// Bytes per element of an engine weight dtype (F32 or BF16); throws for other types.
int64_t weight_element_bytes(DType t);

}  // namespace yopo::ops
