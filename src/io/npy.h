// NumPy .npy files (format versions 1.0, 2.0 and 3.0): reading small arrays (head masks,
// reference outputs) and writing float32 / bool arrays for our own tools.
//
// Readable element types (descr): float '<f2' '<f4' '<f8', signed '|i1' '<i2' '<i4' '<i8',
// unsigned '|u1' '<u2' '<u4' '<u8', bool '|b1'; the byte order may also be '>' (big-endian,
// swapped on read) or '=' (native). Fortran-order arrays and structured dtypes are refused with
// a clear error. Values are converted to double (64-bit integers beyond 2^53 lose precision).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace yopo {

struct NpyArray {
  std::vector<int64_t> shape;  // empty for a 0-d array
  std::string descr;           // as written in the file, e.g. "<f4"
  std::vector<double> values;  // numel() values, row-major (C order)

  std::vector<float> as_f32() const;
  int64_t numel() const;
};

// Throws yopo::Error naming the file when it cannot be read or is not a supported .npy file.
NpyArray read_npy(const std::string& path);

// Writes a C-order '<f4' array of numel(shape) floats (format 1.0, or 2.0 for huge headers).
void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data);
// Writes a C-order '|b1' array; data holds numel(shape) bytes, any non-zero byte meaning true.
void write_npy_bool(const std::string& path, const std::vector<int64_t>& shape,
                    const std::vector<uint8_t>& data);

}  // namespace yopo
