#include "core/dtype.h"

#include "core/error.h"

namespace yopo {

namespace {
struct DTypeInfo {
  const char* name;
  int64_t block_elems;
  int64_t block_bytes;
};

DTypeInfo info(DType t) {
  switch (t) {
    case DType::F32: return {"F32", 1, 4};
    case DType::F16: return {"F16", 1, 2};
    case DType::BF16: return {"BF16", 1, 2};
    case DType::I8: return {"I8", 1, 1};
    case DType::I16: return {"I16", 1, 2};
    case DType::I32: return {"I32", 1, 4};
    case DType::I64: return {"I64", 1, 8};
    case DType::F64: return {"F64", 1, 8};
    case DType::Q4_0: return {"Q4_0", 32, 18};
    case DType::Q4_1: return {"Q4_1", 32, 20};
    case DType::Q5_0: return {"Q5_0", 32, 22};
    case DType::Q5_1: return {"Q5_1", 32, 24};
    case DType::Q8_0: return {"Q8_0", 32, 34};
    case DType::Q4_K: return {"Q4_K", 256, 144};
    case DType::Q5_K: return {"Q5_K", 256, 176};
    case DType::Q6_K: return {"Q6_K", 256, 210};
  }
  return {"?", 1, 1};
}
}  // namespace

const char* dtype_name(DType t) { return info(t).name; }
int64_t dtype_block_elems(DType t) { return info(t).block_elems; }
int64_t dtype_block_bytes(DType t) { return info(t).block_bytes; }
bool dtype_is_quantized(DType t) { return info(t).block_elems > 1; }

int64_t dtype_nbytes(DType t, int64_t n) {
  const DTypeInfo i = info(t);
  check(n >= 0 && n % i.block_elems == 0, "element count ", n, " is not a multiple of the ",
        i.name, " block size ", i.block_elems);
  return n / i.block_elems * i.block_bytes;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    if (mant == 0) return f32_from_bits(sign);
    // Subnormal half: value = mant * 2^-24, exact in float.
    const float v = float(mant) * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  if (exp == 31) return f32_from_bits(sign | 0x7f800000u | (mant << 13));
  return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t f32_to_f16(float f) {
  const uint32_t u = bits_from_f32(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return uint16_t(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // overflow -> inf (rounding incl.)
  if (abs < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    // Round abs * 2^24 to nearest even integer.
    const float v = f32_from_bits(abs) * 16777216.0f;
    uint32_t m = uint32_t(v);
    const float frac = v - float(m);
    if (frac > 0.5f || (frac == 0.5f && (m & 1u))) ++m;
    return uint16_t(sign | m);
  }
  // Normal: rebias exponent, round mantissa to 10 bits, nearest even.
  uint32_t r = abs - (112u << 23);
  r += 0xfffu + ((r >> 13) & 1u);
  return uint16_t(sign | (r >> 13));
}

}  // namespace yopo
