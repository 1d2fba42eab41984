// Reader for GGUF model files (versions 2 and 3), memory-mapped.
//
// Layout (little-endian): magic "GGUF", u32 version, u64 tensor count, u64 metadata count,
// metadata (key string, u32 value type, value), tensor infos (name string, u32 n_dims,
// u64 ne[n_dims], u32 ggml type, u64 offset), padding to `general.alignment` (default 32),
// then the tensor data; each tensor offset is relative to the data start and aligned.
// A string is a u64 byte length followed by the bytes; an array is a u32 element type,
// a u64 count and the elements.
//
// Tensors whose GGML type yopo cannot use (Q2_K, Q3_K, the IQ types, ids unknown to us) do
// not fail the open: `yopo inspect` must still list them. They are left out of tensors()
// (a RawTensor always holds a supported DType) and listed in unsupported_tensors();
// tensor(name) throws a clear error for them ("tensor 'x' has GGML type Q3_K (11), which
// yopo does not support"). Model loaders should look tensors up with tensor(name) (or
// check unsupported_type(name) after a failed find) so that users get that message rather
// than "missing tensor".
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "io/tensor_source.h"

namespace yopo {

enum class GgufType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};

// "uint8", "int32", "string", "array", ...
const char* gguf_type_name(GgufType t);

// One metadata value. Which fields hold it depends on type:
//   U8, U16, U32, U64: u;  I8, I16, I32, I64: i;  F32, F64: f;  BOOL: b;  STRING: str;
//   ARRAY: elem_type and items (each item has type == elem_type).
struct GgufValue {
  GgufType type = GgufType::U8;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0.0;
  bool b = false;
  std::string str;
  GgufType elem_type = GgufType::U8;
  std::vector<GgufValue> items;

  bool is_integer() const;  // any of the eight integer types
  bool is_float() const { return type == GgufType::F32 || type == GgufType::F64; }

  static GgufValue of_uint(GgufType t, uint64_t v);
  static GgufValue of_int(GgufType t, int64_t v);
  static GgufValue of_float(GgufType t, double v);
  static GgufValue of_bool(bool v);
  static GgufValue of_string(std::string v);
  static GgufValue of_array(GgufType elem_type, std::vector<GgufValue> items);
};

// For `yopo inspect`: strings quoted (with escapes), arrays as [a, b, ... (N items)] showing
// at most max_items items.
std::string format_gguf_value(const GgufValue& v, size_t max_items = 8);

// GGML tensor type ids and names ("Q4_K"; "type 42" for ids unknown to us).
std::string ggml_type_name(uint32_t ggml_type);
// The DType for a GGML type id yopo supports; nullopt otherwise.
std::optional<DType> dtype_from_ggml_type(uint32_t ggml_type);
// The GGML type id of a DType (every DType has one).
uint32_t ggml_type_from_dtype(DType t);

// What the file says about one tensor, supported or not.
struct GgufTensorInfo {
  std::string name;
  uint32_t ggml_type = 0;
  std::string type_name;
  std::vector<int64_t> shape;  // row-major, outermost first (ne[] reversed)
  uint64_t offset = 0;         // relative to the data section
  bool supported = false;
};

class GgufFile : public TensorSource {
 public:
  // Maps and parses the file; throws yopo::Error naming the path and the problem.
  explicit GgufFile(const std::string& path);

  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  // Offset of the tensor data section in the file.
  size_t data_offset() const { return data_offset_; }
  size_t file_size() const { return file_.size(); }
  // The start of the mapping; every tensor's data lies in [file_data(), + file_size()).
  const std::byte* file_data() const { return file_.data(); }

  // All metadata, in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find_value(const std::string& key) const;  // nullptr when absent
  bool has(const std::string& key) const { return find_value(key) != nullptr; }

  // Typed lookups; they throw yopo::Error naming the file and key when the key is absent
  // (forms without a default) or holds a value of another type.
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;  // any integer type
  int64_t get_int(const std::string& key, int64_t def) const;
  double get_float(const std::string& key) const;  // float or integer types
  double get_float(const std::string& key, double def) const;
  bool get_bool(const std::string& key, bool def) const;
  std::vector<std::string> get_string_array(const std::string& key) const;
  std::vector<double> get_float_array(const std::string& key) const;  // float or integer items
  std::vector<int64_t> get_int_array(const std::string& key) const;

  // Tensors of supported types, in file order.
  const std::vector<RawTensor>& tensors() const override { return tensors_; }
  // Tensors of unsupported types: name, type name ("Q3_K", "type 42").
  const std::vector<std::pair<std::string, std::string>>& unsupported_tensors() const {
    return unsupported_;
  }
  // Every tensor (supported or not), in file order.
  const std::vector<GgufTensorInfo>& tensor_infos() const { return infos_; }
  // The type name when name is a tensor of an unsupported type, else nullptr.
  const std::string* unsupported_type(const std::string& name) const override;
  // The tensor; throws a clear error when absent or of an unsupported type.
  const RawTensor& tensor(const std::string& name) const;

  const std::string& path() const { return file_.path(); }

 private:
  const GgufValue& require(const std::string& key) const;
  [[noreturn]] void wrong_type(const std::string& key, const GgufValue& v,
                               const char* wanted) const;

  MappedFile file_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  size_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::unordered_map<std::string, size_t> key_index_;
  std::vector<RawTensor> tensors_;
  std::vector<std::pair<std::string, std::string>> unsupported_;
  std::vector<GgufTensorInfo> infos_;
  // name -> (index in infos_, index in tensors_ or kNone for unsupported types)
  static constexpr size_t kNone = ~size_t(0);
  std::unordered_map<std::string, std::pair<size_t, size_t>> tensor_index_;
};

}  // namespace yopo
