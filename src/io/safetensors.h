// Reader for the safetensors format (Hugging Face): one file, or a model sharded over several
// files with an index. Tensors are memory-mapped; RawTensor::data points into the mapping and is
// NOT necessarily aligned to the element size (use memcpy-style loads).
//
// Layout of a file: an 8-byte little-endian u64 N, then N bytes of JSON header
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}   (optional, string to string)
// then the data buffer; offsets are relative to the start of the data buffer.
//
// Supported dtypes: F32, F16, BF16, F64, I8, I16, I32, I64. Any other dtype (U8, BOOL, F8_E4M3,
// ...) is rejected when the file is opened, with an error naming the tensor and its dtype.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "io/tensor_source.h"

namespace yopo {

class SafetensorsFile : public TensorSource {
 public:
  // Maps and validates the file; throws yopo::Error naming the file (and the tensor) when it is
  // not a well-formed safetensors file.
  explicit SafetensorsFile(const std::string& path);

  // In the order of their data offsets.
  const std::vector<RawTensor>& tensors() const override { return tensors_; }
  // The header's "__metadata__" map (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  MappedFile file_;
  std::vector<RawTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A model's weights. path_or_dir is one of:
//  - a .safetensors file;
//  - an index file (*.json, e.g. model.safetensors.index.json) holding
//    {"weight_map": {tensor: shard file name}}, shard names relative to the index's directory;
//  - a directory holding, in this order of preference: model.safetensors,
//    model.safetensors.index.json, a single *.safetensors.index.json, a single *.safetensors
//    (several candidates without an index is an error listing them).
// With an index every shard is opened (in sorted name order); tensors() is the union, shard by
// shard. A tensor listed in the index but missing from its shard, or a name found in two shards,
// is an error.
class SafetensorsModel : public TensorSource {
 public:
  explicit SafetensorsModel(const std::string& path_or_dir);

  const std::vector<RawTensor>& tensors() const override { return tensors_; }
  // The files opened, in the order their tensors appear in tensors().
  const std::vector<std::string>& shard_paths() const { return shard_paths_; }

 private:
  void open_single(const std::string& file);
  void open_index(const std::string& index_file);

  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::vector<std::string> shard_paths_;
  std::vector<RawTensor> tensors_;
};

}  // namespace yopo
