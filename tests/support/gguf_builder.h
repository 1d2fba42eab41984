// A small GGUF writer for tests: builds files by hand (valid or deliberately broken) and
// records where each field landed so that tests can corrupt specific bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/gguf.h"

namespace yopo::test {

// Byte positions of the fields written by GgufBuilder::bytes().
struct GgufLayout {
  size_t version_at = 0;
  size_t tensor_count_at = 0;
  size_t kv_count_at = 0;
  struct Kv {
    size_t key_len_at = 0;  // u64 key length; the key bytes follow
    size_t type_at = 0;     // u32 value type
    size_t value_at = 0;    // the value (for arrays: u32 element type, u64 count, items)
  };
  std::vector<Kv> kvs;
  struct Tensor {
    size_t name_len_at = 0;
    size_t n_dims_at = 0;
    size_t ne_at = 0;  // ne[0]; ne[k] is at ne_at + 8 k
    size_t type_at = 0;
    size_t offset_at = 0;
    size_t data_at = 0;  // absolute position of the tensor's data
  };
  std::vector<Tensor> tensors;
  size_t data_start = 0;
  size_t file_size = 0;
};

class GgufBuilder {
 public:
  explicit GgufBuilder(uint32_t version = 3) : version_(version) {}

  // Metadata, written in the order added. The value is serialized as its type says
  // (arrays: elem_type and items, nested arrays included).
  GgufBuilder& kv(const std::string& key, const GgufValue& v);
  GgufBuilder& kv_u32(const std::string& key, uint32_t v);
  GgufBuilder& kv_i32(const std::string& key, int32_t v);
  GgufBuilder& kv_u64(const std::string& key, uint64_t v);
  GgufBuilder& kv_f32(const std::string& key, float v);
  GgufBuilder& kv_bool(const std::string& key, bool v);
  GgufBuilder& kv_string(const std::string& key, const std::string& v);
  GgufBuilder& kv_strings(const std::string& key, const std::vector<std::string>& v);
  GgufBuilder& kv_f32s(const std::string& key, const std::vector<float>& v);
  GgufBuilder& kv_i32s(const std::string& key, const std::vector<int32_t>& v);
  // A pair written verbatim: key, value type id and the raw value bytes.
  GgufBuilder& kv_raw(const std::string& key, uint32_t type, const std::vector<uint8_t>& value);

  // Writes general.alignment (uint32) and lays the tensor data out with that alignment.
  GgufBuilder& alignment(uint32_t a);
  // Lays the data out with this alignment without writing the key (for broken files).
  GgufBuilder& layout_alignment(uint32_t a) {
    align_ = a;
    return *this;
  }

  // A tensor of GGML type id ggml_type; shape row-major (outermost first), written as
  // reversed ne[]. data is stored as given at the next aligned offset.
  GgufBuilder& tensor(const std::string& name, uint32_t ggml_type,
                      const std::vector<int64_t>& shape, const std::vector<uint8_t>& data);
  GgufBuilder& tensor_f32(const std::string& name, const std::vector<int64_t>& shape,
                          const std::vector<float>& values);
  // A tensor written verbatim: ne[] as given (any count), offset overriding the layout.
  GgufBuilder& tensor_raw(const std::string& name, uint32_t ggml_type,
                          const std::vector<uint64_t>& ne, const std::vector<uint8_t>& data,
                          std::optional<uint64_t> offset = std::nullopt);

  // The file's bytes; layout() then describes them.
  std::vector<uint8_t> bytes();
  const GgufLayout& layout() const { return layout_; }
  // Writes bytes() to path and returns path.
  std::string write(const std::string& path);

 private:
  struct Kv {
    std::string key;
    uint32_t type;
    std::vector<uint8_t> value;
  };
  struct Tensor {
    std::string name;
    uint32_t type;
    std::vector<uint64_t> ne;
    std::vector<uint8_t> data;
    std::optional<uint64_t> offset;
  };
  uint32_t version_;
  uint32_t align_ = 32;
  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
  GgufLayout layout_;
};

// Writes bytes to a file (helper for corruption tests).
void write_file(const std::string& path, const std::vector<uint8_t>& bytes);
std::vector<uint8_t> read_file(const std::string& path);

}  // namespace yopo::test
