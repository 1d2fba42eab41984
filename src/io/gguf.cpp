#include "io/gguf.h"

#include <bit>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace yopo {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes little-endian");

namespace {

// Limits against hostile files: nesting of arrays and the total number of array items kept
// in memory (a real vocabulary has a few hundred thousand).
constexpr int kMaxArrayDepth = 16;
constexpr uint64_t kMaxTotalItems = uint64_t(1) << 24;
constexpr uint32_t kMaxDims = 4;

// GGML type names indexed by type id (ids 4, 5, 31-33 and 36-38 are types ggml removed).
constexpr const char* kGgmlTypeNames[] = {
    "F32",   "F16",        "Q4_0",       "Q4_1",       "Q4_2",     "Q4_3",     "Q5_0",
    "Q5_1",  "Q8_0",       "Q8_1",       "Q2_K",       "Q3_K",     "Q4_K",     "Q5_K",
    "Q6_K",  "Q8_K",       "IQ2_XXS",    "IQ2_XS",     "IQ3_XXS",  "IQ1_S",    "IQ4_NL",
    "IQ3_S", "IQ2_S",      "IQ4_XS",     "I8",         "I16",      "I32",      "I64",
    "F64",   "IQ1_M",      "BF16",       "Q4_0_4_4",   "Q4_0_4_8", "Q4_0_8_8", "TQ1_0",
    "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4",    "NVFP4",    "Q1_0",
    "Q2_0",
};

bool valid_value_type(uint32_t t) {
  return t <= uint32_t(GgufType::F64);
}

// Smallest number of bytes one value of type t takes in the file.
uint64_t min_value_bytes(GgufType t) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::BOOL:
      return 1;
    case GgufType::U16:
    case GgufType::I16:
      return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32:
      return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
    case GgufType::STRING:
      return 8;
    case GgufType::ARRAY:
      return 12;
  }
  return 1;
}

// Bounds-checked little-endian reader over the mapping. Errors name the file, the current
// context (which key or tensor) and the offset.
class Cursor {
 public:
  Cursor(const std::byte* data, size_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  void set_context(std::string ctx) { ctx_ = std::move(ctx); }

  template <class... Parts>
  [[noreturn]] void bad(const Parts&... parts) const {
    if (ctx_.empty()) fail("GGUF file '", path_, "': ", parts...);
    fail("GGUF file '", path_, "': ", ctx_, ": ", parts...);
  }

  void need(uint64_t n, const char* what) const {
    if (n > remaining())
      bad("truncated: ", what, " at offset ", pos_, " needs ", n, " bytes but only ", remaining(),
          " remain");
  }

  template <class T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const char* what) {
    const uint64_t n = read<uint64_t>(what);
    need(n, what);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), size_t(n));
    pos_ += size_t(n);
    return s;
  }

 private:
  const std::byte* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
  std::string ctx_;
};

class ValueReader {
 public:
  explicit ValueReader(Cursor& c) : c_(c) {}

  GgufValue read(GgufType t, int depth) {
    switch (t) {
      case GgufType::U8:
        return GgufValue::of_uint(t, c_.read<uint8_t>("uint8 value"));
      case GgufType::I8:
        return GgufValue::of_int(t, c_.read<int8_t>("int8 value"));
      case GgufType::U16:
        return GgufValue::of_uint(t, c_.read<uint16_t>("uint16 value"));
      case GgufType::I16:
        return GgufValue::of_int(t, c_.read<int16_t>("int16 value"));
      case GgufType::U32:
        return GgufValue::of_uint(t, c_.read<uint32_t>("uint32 value"));
      case GgufType::I32:
        return GgufValue::of_int(t, c_.read<int32_t>("int32 value"));
      case GgufType::U64:
        return GgufValue::of_uint(t, c_.read<uint64_t>("uint64 value"));
      case GgufType::I64:
        return GgufValue::of_int(t, c_.read<int64_t>("int64 value"));
      case GgufType::F32:
        return GgufValue::of_float(t, c_.read<float>("float32 value"));
      case GgufType::F64:
        return GgufValue::of_float(t, c_.read<double>("float64 value"));
      case GgufType::BOOL: {
        return GgufValue::of_bool(c_.read<uint8_t>("bool value") != 0);
      }
      case GgufType::STRING:
        return GgufValue::of_string(c_.read_string("string value"));
      case GgufType::ARRAY:
        return read_array(depth);
    }
    c_.bad("invalid value type ", uint32_t(t));
  }

 private:
  GgufValue read_array(int depth) {
    if (depth >= kMaxArrayDepth) c_.bad("arrays nested more than ", kMaxArrayDepth, " deep");
    const uint32_t et = c_.read<uint32_t>("array element type");
    if (!valid_value_type(et))
      c_.bad("array element type ", et, " at offset ", c_.pos() - 4, " is not a GGUF type");
    const GgufType elem = GgufType(et);
    const uint64_t n = c_.read<uint64_t>("array length");
    if (n > c_.remaining() / min_value_bytes(elem))
      c_.bad("array of ", n, " ", gguf_type_name(elem), " items at offset ", c_.pos() - 8,
             " cannot fit in the ", c_.remaining(), " bytes left in the file");
    total_items_ += n;
    if (total_items_ > kMaxTotalItems)
      c_.bad("metadata arrays hold more than ", kMaxTotalItems, " items in all");
    std::vector<GgufValue> items;
    items.reserve(size_t(n));
    for (uint64_t k = 0; k < n; ++k) items.push_back(read(elem, depth + 1));
    return GgufValue::of_array(elem, std::move(items));
  }

  Cursor& c_;
  uint64_t total_items_ = 0;
};

void append_escaped(std::string& out, const std::string& s) {
  out += '"';
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          static const char kHex[] = "0123456789abcdef";
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// A key or tensor name as shown in error messages: control bytes escaped, long names cut.
std::string printable(const std::string& s) {
  constexpr size_t kMax = 120;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += char(c);
    }
  }
  if (s.size() > kMax) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

template <class F>
void append_float(std::string& out, F v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

void append_value(std::string& out, const GgufValue& v, size_t max_items) {
  switch (v.type) {
    case GgufType::U8:
    case GgufType::U16:
    case GgufType::U32:
    case GgufType::U64:
      out += std::to_string(v.u);
      break;
    case GgufType::I8:
    case GgufType::I16:
    case GgufType::I32:
    case GgufType::I64:
      out += std::to_string(v.i);
      break;
    case GgufType::F32:
      append_float(out, float(v.f));
      break;
    case GgufType::F64:
      append_float(out, v.f);
      break;
    case GgufType::BOOL:
      out += v.b ? "true" : "false";
      break;
    case GgufType::STRING:
      append_escaped(out, v.str);
      break;
    case GgufType::ARRAY: {
      out += '[';
      const size_t n = v.items.size();
      const size_t shown = n <= max_items ? n : max_items;
      for (size_t k = 0; k < shown; ++k) {
        if (k) out += ", ";
        append_value(out, v.items[k], max_items);
      }
      if (shown < n) {
        if (shown) out += ", ";
        out += "... (" + std::to_string(n) + " items)";
      }
      out += ']';
      break;
    }
  }
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::U8:
      return "uint8";
    case GgufType::I8:
      return "int8";
    case GgufType::U16:
      return "uint16";
    case GgufType::I16:
      return "int16";
    case GgufType::U32:
      return "uint32";
    case GgufType::I32:
      return "int32";
    case GgufType::F32:
      return "float32";
    case GgufType::BOOL:
      return "bool";
    case GgufType::STRING:
      return "string";
    case GgufType::ARRAY:
      return "array";
    case GgufType::U64:
      return "uint64";
    case GgufType::I64:
      return "int64";
    case GgufType::F64:
      return "float64";
  }
  return "invalid";
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::U16:
    case GgufType::I16:
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::U64:
    case GgufType::I64:
      return true;
    default:
      return false;
  }
}

GgufValue GgufValue::of_uint(GgufType t, uint64_t v) {
  GgufValue r;
  r.type = t;
  r.u = v;
  return r;
}
GgufValue GgufValue::of_int(GgufType t, int64_t v) {
  GgufValue r;
  r.type = t;
  r.i = v;
  return r;
}
GgufValue GgufValue::of_float(GgufType t, double v) {
  GgufValue r;
  r.type = t;
  r.f = v;
  return r;
}
GgufValue GgufValue::of_bool(bool v) {
  GgufValue r;
  r.type = GgufType::BOOL;
  r.b = v;
  return r;
}
GgufValue GgufValue::of_string(std::string v) {
  GgufValue r;
  r.type = GgufType::STRING;
  r.str = std::move(v);
  return r;
}
GgufValue GgufValue::of_array(GgufType elem_type, std::vector<GgufValue> items) {
  GgufValue r;
  r.type = GgufType::ARRAY;
  r.elem_type = elem_type;
  r.items = std::move(items);
  return r;
}

std::string format_gguf_value(const GgufValue& v, size_t max_items) {
  std::string out;
  append_value(out, v, max_items);
  return out;
}

std::string ggml_type_name(uint32_t ggml_type) {
  constexpr size_t n = sizeof(kGgmlTypeNames) / sizeof(kGgmlTypeNames[0]);
  if (ggml_type < n) return kGgmlTypeNames[ggml_type];
  return "type " + std::to_string(ggml_type);
}

std::optional<DType> dtype_from_ggml_type(uint32_t ggml_type) {
  switch (ggml_type) {
    case 0:
      return DType::F32;
    case 1:
      return DType::F16;
    case 2:
      return DType::Q4_0;
    case 3:
      return DType::Q4_1;
    case 6:
      return DType::Q5_0;
    case 7:
      return DType::Q5_1;
    case 8:
      return DType::Q8_0;
    case 12:
      return DType::Q4_K;
    case 13:
      return DType::Q5_K;
    case 14:
      return DType::Q6_K;
    case 24:
      return DType::I8;
    case 25:
      return DType::I16;
    case 26:
      return DType::I32;
    case 27:
      return DType::I64;
    case 28:
      return DType::F64;
    case 30:
      return DType::BF16;
    default:
      return std::nullopt;
  }
}

uint32_t ggml_type_from_dtype(DType t) {
  switch (t) {
    case DType::F32:
      return 0;
    case DType::F16:
      return 1;
    case DType::Q4_0:
      return 2;
    case DType::Q4_1:
      return 3;
    case DType::Q5_0:
      return 6;
    case DType::Q5_1:
      return 7;
    case DType::Q8_0:
      return 8;
    case DType::Q4_K:
      return 12;
    case DType::Q5_K:
      return 13;
    case DType::Q6_K:
      return 14;
    case DType::I8:
      return 24;
    case DType::I16:
      return 25;
    case DType::I32:
      return 26;
    case DType::I64:
      return 27;
    case DType::F64:
      return 28;
    case DType::BF16:
      return 30;
  }
  fail("unknown DType ", int(t));
}

GgufFile::GgufFile(const std::string& path) : file_(path) {
  const size_t size = file_.size();
  Cursor c(file_.data(), size, path);

  // Header.
  if (size < 4) c.bad("file is too small to be GGUF (", size, " bytes)");
  c.read<uint32_t>("magic");
  if (std::memcmp(file_.data(), "GGUF", 4) != 0) {
    const auto* m = reinterpret_cast<const unsigned char*>(file_.data());
    char hex[16];
    std::snprintf(hex, sizeof(hex), "%02x %02x %02x %02x", m[0], m[1], m[2], m[3]);
    c.bad("not a GGUF file: the first 4 bytes are ", hex, ", not \"GGUF\"");
  }
  version_ = c.read<uint32_t>("version");
  if (version_ == 1)
    c.bad("GGUF version 1 is not supported (only versions 2 and 3); convert the file again");
  if (version_ != 2 && version_ != 3) {
    if (version_ == 0x02000000u || version_ == 0x03000000u)
      c.bad("the file is big-endian GGUF, which yopo does not support");
    c.bad("unsupported GGUF version ", version_, " (only versions 2 and 3)");
  }
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // Each metadata pair takes at least 13 bytes (key length, value type, one byte of value),
  // each tensor info at least 32 (name length, n_dims, one dim, type, offset).
  if (n_kv > c.remaining() / 13)
    c.bad("metadata count ", n_kv, " is impossible for a file of ", size, " bytes");
  if (n_tensors > c.remaining() / 32 || n_kv * 13 + n_tensors * 32 > c.remaining())
    c.bad("tensor count ", n_tensors, " (with ", n_kv,
          " metadata pairs) is impossible for a file of ", size, " bytes");

  // Metadata.
  ValueReader values(c);
  metadata_.reserve(size_t(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    c.set_context("metadata pair #" + std::to_string(k));
    std::string key = c.read_string("key");
    c.set_context("metadata key '" + printable(key) + "'");
    if (key_index_.count(key)) c.bad("the key appears more than once");
    const uint32_t t = c.read<uint32_t>("value type");
    if (!valid_value_type(t))
      c.bad("value type ", t, " at offset ", c.pos() - 4, " is not a GGUF type");
    GgufValue v = values.read(GgufType(t), 0);
    key_index_.emplace(key, metadata_.size());
    metadata_.emplace_back(std::move(key), std::move(v));
  }
  c.set_context("");

  if (const GgufValue* a = find_value("general.alignment")) {
    int64_t al = 0;
    if (a->is_integer()) {
      if (a->type == GgufType::U8 || a->type == GgufType::U16 || a->type == GgufType::U32 ||
          a->type == GgufType::U64)
        al = a->u > uint64_t(1) << 30 ? -1 : int64_t(a->u);
      else
        al = a->i;
    } else {
      c.bad("general.alignment must be an integer, not ", gguf_type_name(a->type));
    }
    if (al <= 0 || (al & (al - 1)) != 0 || al > (int64_t(1) << 30))
      c.bad("general.alignment is ", format_gguf_value(*a),
            "; it must be a power of two (at most 2^30)");
    alignment_ = size_t(al);
  }

  // Tensor infos.
  struct Pending {
    size_t info;
    uint64_t nbytes;
  };
  std::vector<Pending> pending;
  std::unordered_map<std::string, size_t> names;
  infos_.reserve(size_t(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    c.set_context("tensor info #" + std::to_string(k));
    GgufTensorInfo info;
    info.name = c.read_string("tensor name");
    c.set_context("tensor '" + printable(info.name) + "'");
    if (names.count(info.name)) c.bad("the tensor name appears more than once");
    const uint32_t n_dims = c.read<uint32_t>("n_dims");
    if (n_dims == 0 || n_dims > kMaxDims)
      c.bad("n_dims is ", n_dims, "; it must be between 1 and ", kMaxDims);
    uint64_t ne[kMaxDims];
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      ne[d] = c.read<uint64_t>("dimension");
      if (ne[d] == 0) c.bad("dimension ", d, " (ne[", d, "]) is 0");
      if (ne[d] > uint64_t(std::numeric_limits<int64_t>::max()))
        c.bad("dimension ", d, " (ne[", d, "]) is ", ne[d], ", beyond int64");
      if (__builtin_mul_overflow(numel, int64_t(ne[d]), &numel))
        c.bad("the element count overflows int64");
    }
    info.ggml_type = c.read<uint32_t>("type");
    info.type_name = ggml_type_name(info.ggml_type);
    info.offset = c.read<uint64_t>("offset");
    if (info.offset % alignment_ != 0)
      c.bad("data offset ", info.offset, " is not a multiple of the alignment ", alignment_);
    info.shape.resize(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) info.shape[n_dims - 1 - d] = int64_t(ne[d]);

    uint64_t nbytes = 0;
    if (const std::optional<DType> dt = dtype_from_ggml_type(info.ggml_type)) {
      info.supported = true;
      const int64_t be = dtype_block_elems(*dt);
      if (int64_t(ne[0]) % be != 0)
        c.bad("row length ne[0] = ", ne[0], " is not a multiple of the ", dtype_name(*dt),
              " block size ", be);
      if (__builtin_mul_overflow(uint64_t(numel / be), uint64_t(dtype_block_bytes(*dt)), &nbytes))
        c.bad("the byte size overflows");
    }
    names.emplace(info.name, infos_.size());
    pending.push_back({infos_.size(), nbytes});
    infos_.push_back(std::move(info));
  }
  c.set_context("");

  // Data section: starts at the next multiple of the alignment. A file without tensors may
  // end right after the metadata.
  const size_t end_of_infos = c.pos();
  const size_t pad = (alignment_ - end_of_infos % alignment_) % alignment_;
  data_offset_ = end_of_infos + pad;
  if (n_tensors > 0 && (pad > size - end_of_infos))
    c.bad("the tensor data section would start at offset ", data_offset_,
          ", past the end of the file (", size, " bytes)");
  const uint64_t data_size = n_tensors > 0 ? uint64_t(size - data_offset_) : 0;

  tensors_.reserve(pending.size());
  for (const Pending& p : pending) {
    const GgufTensorInfo& info = infos_[p.info];
    if (!info.supported && info.offset > data_size)
      c.bad("tensor '", printable(info.name), "' (", info.type_name, ") has data offset ",
            info.offset, ", past the end of the file (", data_size, " bytes of tensor data)");
    if (info.offset > data_size || p.nbytes > data_size - info.offset)
      c.bad("tensor '", printable(info.name), "' (", info.type_name, ", ", p.nbytes,
            " bytes at data offset ", info.offset, ") extends past the end of the file (",
            data_size, " bytes of tensor data)");
    tensor_index_.emplace(info.name,
                          std::make_pair(p.info, info.supported ? tensors_.size() : kNone));
    if (!info.supported) {
      unsupported_.emplace_back(info.name, info.type_name);
      continue;
    }
    RawTensor t;
    t.name = info.name;
    t.dtype = *dtype_from_ggml_type(info.ggml_type);
    t.shape = info.shape;
    t.data = file_.data() + data_offset_ + info.offset;
    t.nbytes = size_t(p.nbytes);
    tensors_.push_back(std::move(t));
  }
}

const GgufValue* GgufFile::find_value(const std::string& key) const {
  const auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufValue& GgufFile::require(const std::string& key) const {
  const GgufValue* v = find_value(key);
  if (!v) fail("GGUF file '", path(), "' has no metadata key '", key, "'");
  return *v;
}

void GgufFile::wrong_type(const std::string& key, const GgufValue& v, const char* wanted) const {
  std::string got = gguf_type_name(v.type);
  if (v.type == GgufType::ARRAY) got += std::string(" of ") + gguf_type_name(v.elem_type);
  fail("GGUF file '", path(), "': metadata key '", key, "' holds ", got, ", expected ", wanted);
}

namespace {
// The integer a value holds; false when it is not an integer or does not fit int64.
bool as_int64(const GgufValue& v, int64_t* out) {
  if (!v.is_integer()) return false;
  if (v.type == GgufType::U8 || v.type == GgufType::U16 || v.type == GgufType::U32 ||
      v.type == GgufType::U64) {
    if (v.u > uint64_t(std::numeric_limits<int64_t>::max())) return false;
    *out = int64_t(v.u);
  } else {
    *out = v.i;
  }
  return true;
}
bool as_double(const GgufValue& v, double* out) {
  if (v.is_float()) {
    *out = v.f;
    return true;
  }
  if (!v.is_integer()) return false;
  const bool is_unsigned = v.type == GgufType::U8 || v.type == GgufType::U16 ||
                           v.type == GgufType::U32 || v.type == GgufType::U64;
  *out = is_unsigned ? double(v.u) : double(v.i);
  return true;
}
}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = require(key);
  if (v.type != GgufType::STRING) wrong_type(key, v, "a string");
  return v.str;
}

int64_t GgufFile::get_int(const std::string& key) const {
  const GgufValue& v = require(key);
  int64_t r = 0;
  if (!as_int64(v, &r)) {
    if (v.is_integer())
      fail("GGUF file '", path(), "': metadata key '", key, "' value ", v.u, " does not fit int64");
    wrong_type(key, v, "an integer");
  }
  return r;
}

int64_t GgufFile::get_int(const std::string& key, int64_t def) const {
  return has(key) ? get_int(key) : def;
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue& v = require(key);
  double r = 0;
  if (!as_double(v, &r)) wrong_type(key, v, "a number");
  return r;
}

double GgufFile::get_float(const std::string& key, double def) const {
  return has(key) ? get_float(key) : def;
}

bool GgufFile::get_bool(const std::string& key, bool def) const {
  const GgufValue* v = find_value(key);
  if (!v) return def;
  if (v->type != GgufType::BOOL) wrong_type(key, *v, "a bool");
  return v->b;
}

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  const GgufValue& v = require(key);
  if (v.type != GgufType::ARRAY || v.elem_type != GgufType::STRING)
    wrong_type(key, v, "an array of strings");
  std::vector<std::string> r;
  r.reserve(v.items.size());
  for (const GgufValue& item : v.items) r.push_back(item.str);
  return r;
}

std::vector<double> GgufFile::get_float_array(const std::string& key) const {
  const GgufValue& v = require(key);
  std::vector<double> r;
  if (v.type == GgufType::ARRAY) {
    r.resize(v.items.size());
    bool ok = true;
    for (size_t k = 0; k < v.items.size() && ok; ++k) ok = as_double(v.items[k], &r[k]);
    if (ok) return r;
  }
  wrong_type(key, v, "an array of numbers");
}

std::vector<int64_t> GgufFile::get_int_array(const std::string& key) const {
  const GgufValue& v = require(key);
  std::vector<int64_t> r;
  if (v.type == GgufType::ARRAY) {
    r.resize(v.items.size());
    bool ok = true;
    for (size_t k = 0; k < v.items.size() && ok; ++k) ok = as_int64(v.items[k], &r[k]);
    if (ok) return r;
    if (v.elem_type == GgufType::U64)
      fail("GGUF file '", path(), "': metadata key '", key, "' holds a uint64 beyond int64");
  }
  wrong_type(key, v, "an array of integers");
}

const std::string* GgufFile::unsupported_type(const std::string& name) const {
  const auto it = tensor_index_.find(name);
  if (it == tensor_index_.end() || it->second.second != kNone) return nullptr;
  return &infos_[it->second.first].type_name;
}

const RawTensor& GgufFile::tensor(const std::string& name) const {
  const auto it = tensor_index_.find(name);
  if (it == tensor_index_.end()) fail("GGUF file '", path(), "' has no tensor named '", name, "'");
  if (it->second.second != kNone) return tensors_[it->second.second];
  const GgufTensorInfo& info = infos_[it->second.first];
  fail("GGUF file '", path(), "': tensor '", name, "' has GGML type ", info.type_name, " (",
       info.ggml_type, "), which yopo does not support");
}

}  // namespace yopo
