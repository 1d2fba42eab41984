#include "support/gguf_builder.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace yopo::test {

namespace {

template <class T>
void put(std::vector<uint8_t>& out, T v) {
  uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  for (uint8_t x : b) out.push_back(x);
}

void put_string(std::vector<uint8_t>& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void put_value(std::vector<uint8_t>& out, const GgufValue& v) {
  switch (v.type) {
    case GgufType::U8:
      put<uint8_t>(out, uint8_t(v.u));
      break;
    case GgufType::I8:
      put<int8_t>(out, int8_t(v.i));
      break;
    case GgufType::U16:
      put<uint16_t>(out, uint16_t(v.u));
      break;
    case GgufType::I16:
      put<int16_t>(out, int16_t(v.i));
      break;
    case GgufType::U32:
      put<uint32_t>(out, uint32_t(v.u));
      break;
    case GgufType::I32:
      put<int32_t>(out, int32_t(v.i));
      break;
    case GgufType::U64:
      put<uint64_t>(out, v.u);
      break;
    case GgufType::I64:
      put<int64_t>(out, v.i);
      break;
    case GgufType::F32:
      put<float>(out, float(v.f));
      break;
    case GgufType::F64:
      put<double>(out, v.f);
      break;
    case GgufType::BOOL:
      put<uint8_t>(out, v.b ? 1 : 0);
      break;
    case GgufType::STRING:
      put_string(out, v.str);
      break;
    case GgufType::ARRAY:
      put<uint32_t>(out, uint32_t(v.elem_type));
      put<uint64_t>(out, v.items.size());
      for (const GgufValue& item : v.items) put_value(out, item);
      break;
  }
}

void pad_to(std::vector<uint8_t>& out, size_t align) {
  while (out.size() % align != 0) out.push_back(0);
}

}  // namespace

GgufBuilder& GgufBuilder::kv(const std::string& key, const GgufValue& v) {
  std::vector<uint8_t> bytes;
  put_value(bytes, v);
  kvs_.push_back({key, uint32_t(v.type), std::move(bytes)});
  return *this;
}

GgufBuilder& GgufBuilder::kv_u32(const std::string& key, uint32_t v) {
  return kv(key, GgufValue::of_uint(GgufType::U32, v));
}
GgufBuilder& GgufBuilder::kv_i32(const std::string& key, int32_t v) {
  return kv(key, GgufValue::of_int(GgufType::I32, v));
}
GgufBuilder& GgufBuilder::kv_u64(const std::string& key, uint64_t v) {
  return kv(key, GgufValue::of_uint(GgufType::U64, v));
}
GgufBuilder& GgufBuilder::kv_f32(const std::string& key, float v) {
  return kv(key, GgufValue::of_float(GgufType::F32, v));
}
GgufBuilder& GgufBuilder::kv_bool(const std::string& key, bool v) {
  return kv(key, GgufValue::of_bool(v));
}
GgufBuilder& GgufBuilder::kv_string(const std::string& key, const std::string& v) {
  return kv(key, GgufValue::of_string(v));
}
GgufBuilder& GgufBuilder::kv_strings(const std::string& key, const std::vector<std::string>& v) {
  std::vector<GgufValue> items;
  for (const std::string& s : v) items.push_back(GgufValue::of_string(s));
  return kv(key, GgufValue::of_array(GgufType::STRING, std::move(items)));
}
GgufBuilder& GgufBuilder::kv_f32s(const std::string& key, const std::vector<float>& v) {
  std::vector<GgufValue> items;
  for (float f : v) items.push_back(GgufValue::of_float(GgufType::F32, f));
  return kv(key, GgufValue::of_array(GgufType::F32, std::move(items)));
}
GgufBuilder& GgufBuilder::kv_i32s(const std::string& key, const std::vector<int32_t>& v) {
  std::vector<GgufValue> items;
  for (int32_t i : v) items.push_back(GgufValue::of_int(GgufType::I32, i));
  return kv(key, GgufValue::of_array(GgufType::I32, std::move(items)));
}
GgufBuilder& GgufBuilder::kv_raw(const std::string& key, uint32_t type,
                                 const std::vector<uint8_t>& value) {
  kvs_.push_back({key, type, value});
  return *this;
}

GgufBuilder& GgufBuilder::alignment(uint32_t a) {
  align_ = a;
  return kv_u32("general.alignment", a);
}

GgufBuilder& GgufBuilder::tensor(const std::string& name, uint32_t ggml_type,
                                 const std::vector<int64_t>& shape,
                                 const std::vector<uint8_t>& data) {
  std::vector<uint64_t> ne(shape.rbegin(), shape.rend());
  return tensor_raw(name, ggml_type, ne, data);
}

GgufBuilder& GgufBuilder::tensor_f32(const std::string& name, const std::vector<int64_t>& shape,
                                     const std::vector<float>& values) {
  std::vector<uint8_t> data(values.size() * 4);
  std::memcpy(data.data(), values.data(), data.size());
  return tensor(name, 0, shape, data);
}

GgufBuilder& GgufBuilder::tensor_raw(const std::string& name, uint32_t ggml_type,
                                     const std::vector<uint64_t>& ne,
                                     const std::vector<uint8_t>& data,
                                     std::optional<uint64_t> offset) {
  tensors_.push_back({name, ggml_type, ne, data, offset});
  return *this;
}

std::vector<uint8_t> GgufBuilder::bytes() {
  if (align_ == 0) throw std::invalid_argument("GgufBuilder: layout alignment 0");
  layout_ = GgufLayout{};
  std::vector<uint8_t> out = {'G', 'G', 'U', 'F'};
  layout_.version_at = out.size();
  put<uint32_t>(out, version_);
  layout_.tensor_count_at = out.size();
  put<uint64_t>(out, tensors_.size());
  layout_.kv_count_at = out.size();
  put<uint64_t>(out, kvs_.size());
  for (const Kv& kv : kvs_) {
    GgufLayout::Kv at;
    at.key_len_at = out.size();
    put_string(out, kv.key);
    at.type_at = out.size();
    put<uint32_t>(out, kv.type);
    at.value_at = out.size();
    out.insert(out.end(), kv.value.begin(), kv.value.end());
    layout_.kvs.push_back(at);
  }
  // Offsets of the data, relative to the data section.
  std::vector<uint64_t> offsets;
  uint64_t next = 0;
  for (const Tensor& t : tensors_) {
    offsets.push_back(t.offset ? *t.offset : next);
    next = (next + t.data.size() + align_ - 1) / align_ * align_;
  }
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const Tensor& t = tensors_[k];
    GgufLayout::Tensor at;
    at.name_len_at = out.size();
    put_string(out, t.name);
    at.n_dims_at = out.size();
    put<uint32_t>(out, uint32_t(t.ne.size()));
    at.ne_at = out.size();
    for (uint64_t d : t.ne) put<uint64_t>(out, d);
    at.type_at = out.size();
    put<uint32_t>(out, t.type);
    at.offset_at = out.size();
    put<uint64_t>(out, offsets[k]);
    layout_.tensors.push_back(at);
  }
  if (!tensors_.empty()) pad_to(out, align_);
  layout_.data_start = out.size();
  // Data laid out in file order at the computed offsets (explicit offsets are not written
  // separately: those tensors share the laid-out bytes).
  uint64_t pos = 0;
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const Tensor& t = tensors_[k];
    layout_.tensors[k].data_at = size_t(layout_.data_start + offsets[k]);
    if (t.offset) continue;
    while (pos < offsets[k]) {
      out.push_back(0);
      ++pos;
    }
    out.insert(out.end(), t.data.begin(), t.data.end());
    pos += t.data.size();
  }
  layout_.file_size = out.size();
  return out;
}

std::string GgufBuilder::write(const std::string& path) {
  write_file(path, bytes());
  return path;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error("cannot write " + path);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

}  // namespace yopo::test
