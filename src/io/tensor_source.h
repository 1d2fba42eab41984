// A model file's tensors seen uniformly: GGUF and safetensors both provide this view.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace yopo {

// A tensor stored in a (memory-mapped) file. shape is row-major, outermost dimension first
// (PyTorch order; GGUF's ne[] reversed). data stays valid while its file object lives.
struct RawTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;
  size_t nbytes = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // All tensors, in file order.
  virtual const std::vector<RawTensor>& tensors() const = 0;
  // The type name of a tensor the file holds in a type yopo cannot read; nullptr otherwise.
  virtual const std::string* unsupported_type(const std::string& /*name*/) const {
    return nullptr;
  }
  // nullptr when absent.
  const RawTensor* find(const std::string& name) const {
    for (const RawTensor& t : tensors())
      if (t.name == name) return &t;
    return nullptr;
  }
};

// Converts any supported stored type (plain or quantized) to float32, writing numel() floats.
// Throws yopo::Error naming the tensor and the type when the type is not supported.
void convert_to_f32(const RawTensor& t, float* out);

}  // namespace yopo
