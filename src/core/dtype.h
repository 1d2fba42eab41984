// Element types of tensors in model files and in the engine, and scalar conversions.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace yopo {

enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  I8,
  I16,
  I32,
  I64,
  F64,
  Q4_0,
  Q4_1,
  Q5_0,
  Q5_1,
  Q8_0,
  Q4_K,
  Q5_K,
  Q6_K,
};

const char* dtype_name(DType t);
// Elements per block (1 for plain types) and bytes per block.
int64_t dtype_block_elems(DType t);
int64_t dtype_block_bytes(DType t);
// Bytes used by n elements; fails when n is not a multiple of the block size.
int64_t dtype_nbytes(DType t, int64_t n);
bool dtype_is_quantized(DType t);

inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t bits_from_f32(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// bfloat16: the upper half of an IEEE float32.
inline float bf16_to_f32(uint16_t h) { return f32_from_bits(uint32_t(h) << 16); }
// Round to nearest even, NaN kept quiet (as PyTorch does).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = bits_from_f32(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

// IEEE half precision.
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

}  // namespace yopo
