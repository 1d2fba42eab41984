#include "io/npy.h"

#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>

#include "core/dtype.h"
#include "core/error.h"
#include "core/mapped_file.h"

namespace yopo {

static_assert(std::endian::native == std::endian::little, "npy I/O assumes a little-endian host");

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

// Parser of the header: a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  void parse(std::string* descr, bool* fortran, std::vector<int64_t>* shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip_ws();
    expect('{');
    for (;;) {
      skip_ws();
      if (peek() == '}') break;
      const std::string key = string_literal();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        check(!have_descr, where(), "'descr' appears twice");
        if (peek() == '[') bad("structured dtypes (a list 'descr') are not supported");
        *descr = string_literal();
        have_descr = true;
      } else if (key == "fortran_order") {
        check(!have_fortran, where(), "'fortran_order' appears twice");
        *fortran = boolean();
        have_fortran = true;
      } else if (key == "shape") {
        check(!have_shape, where(), "'shape' appears twice");
        *shape = tuple();
        have_shape = true;
      } else {
        bad("unexpected key '" + key + "'");
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') bad("expected ',' or '}'");
    }
    ++pos_;  // '}'
    skip_ws();
    if (pos_ != s_.size()) bad("unexpected text after the dict");
    check(have_descr && have_fortran && have_shape, where(),
          "the header must hold 'descr', 'fortran_order' and 'shape'");
  }

 private:
  std::string where() const { return "npy file '" + path_ + "': header: "; }
  [[noreturn]] void bad(const std::string& what) const {
    fail(where(), what, " at header byte ", pos_, " in: ", std::string(s_.substr(0, 200)));
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r'))
      ++pos_;
  }
  void expect(char c) {
    if (peek() != c) bad(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') bad("expected a quoted string");
    ++pos_;
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != q) {
      if (s_[pos_] == '\\' || s_[pos_] == '\n') bad("unsupported character in a string");
      out += s_[pos_++];
    }
    expect(q);
    return out;
  }
  bool boolean() {
    if (s_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (s_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    bad("expected True or False");
  }
  std::vector<int64_t> tuple() {
    std::vector<int64_t> out;
    expect('(');
    skip_ws();
    bool comma = false;  // whether the last item was followed by a comma
    while (peek() != ')') {
      if (!out.empty() && !comma) bad("expected ',' or ')' in the shape");
      out.push_back(integer());
      skip_ws();
      comma = peek() == ',';
      if (comma) ++pos_;
      skip_ws();
    }
    if (out.size() == 1 && !comma) bad("a one-element shape needs a trailing comma");
    ++pos_;  // ')'
    return out;
  }
  int64_t integer() {
    if (peek() < '0' || peek() > '9') bad("expected a non-negative integer in the shape");
    int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      if (__builtin_mul_overflow(v, int64_t(10), &v) ||
          __builtin_add_overflow(v, int64_t(peek() - '0'), &v))
        bad("shape dimension too large");
      ++pos_;
    }
    if (peek() == 'L') ++pos_;  // Python 2 long literal
    return v;
  }

  std::string_view s_;
  std::string path_;
  size_t pos_ = 0;
};

enum class Kind { Float, Int, Uint, Bool };

struct ElemType {
  Kind kind;
  int size;
  bool big_endian;
};

ElemType parse_descr(const std::string& descr, const std::string& path) {
  const std::string supported =
      " (supported: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1, little- or big-endian)";
  check(descr.size() == 3, "npy file '", path, "': unsupported descr '", descr, "'", supported);
  const char order = descr[0], kind = descr[1], size = descr[2];
  ElemType t{Kind::Float, size - '0', order == '>'};
  check(order == '<' || order == '>' || order == '|' || order == '=', "npy file '", path,
        "': descr '", descr, "' has an unknown byte order");
  switch (kind) {
    case 'f':
      t.kind = Kind::Float;
      break;
    case 'i':
      t.kind = Kind::Int;
      break;
    case 'u':
      t.kind = Kind::Uint;
      break;
    case 'b':
      t.kind = Kind::Bool;
      break;
    default:
      fail("npy file '", path, "': unsupported descr '", descr, "'", supported);
  }
  const bool ok = t.kind == Kind::Float ? (t.size == 2 || t.size == 4 || t.size == 8)
                  : t.kind == Kind::Bool
                      ? t.size == 1
                      : (t.size == 1 || t.size == 2 || t.size == 4 || t.size == 8);
  check(ok, "npy file '", path, "': unsupported descr '", descr, "'", supported);
  check(t.size == 1 || order != '|', "npy file '", path, "': descr '", descr,
        "' needs a byte order");
  if (t.size == 1) t.big_endian = false;
  return t;
}

// Loads one element of type t from p (any alignment) as double.
double load(const ElemType& t, const std::byte* p) {
  uint8_t b[8];
  std::memcpy(b, p, size_t(t.size));
  if (t.big_endian)
    for (int i = 0; i < t.size / 2; ++i) std::swap(b[i], b[t.size - 1 - i]);
  auto get = [&](auto v) {
    std::memcpy(&v, b, sizeof v);
    return double(v);
  };
  switch (t.kind) {
    case Kind::Bool:
      return b[0] != 0 ? 1.0 : 0.0;
    case Kind::Float: {
      if (t.size == 2) {
        uint16_t h;
        std::memcpy(&h, b, 2);
        return double(f16_to_f32(h));
      }
      return t.size == 4 ? get(float()) : get(double());
    }
    case Kind::Int:
      switch (t.size) {
        case 1:
          return get(int8_t());
        case 2:
          return get(int16_t());
        case 4:
          return get(int32_t());
        default:
          return get(int64_t());
      }
    case Kind::Uint:
      switch (t.size) {
        case 1:
          return get(uint8_t());
        case 2:
          return get(uint16_t());
        case 4:
          return get(uint32_t());
        default:
          return get(uint64_t());
      }
  }
  return 0.0;
}

int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& path) {
  int64_t n = 1;
  for (int64_t d : shape) {
    check(d >= 0, "npy file '", path, "': negative dimension ", d);
    check(!__builtin_mul_overflow(n, d, &n), "npy file '", path, "': shape is absurdly large");
  }
  return n;
}

void write_npy(const std::string& path, const char* descr, const std::vector<int64_t>& shape,
               const void* data, size_t nbytes) {
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) dict += (i ? ", " : "") + std::to_string(shape[i]);
  dict += shape.size() == 1 ? ",), }" : "), }";
  // Like numpy: room to grow the first axis in place, then padding to a 64-byte boundary.
  if (!shape.empty()) dict.append(21 - std::to_string(shape[0]).size(), ' ');
  // Format 1.0 stores the header length in 16 bits; 2.0 in 32.
  auto padding = [&](size_t prefix) { return (64 - (prefix + dict.size() + 1) % 64) % 64; };
  const bool v1 = dict.size() + 1 + padding(kMagicLen + 4) <= 65535;
  dict.append(padding(kMagicLen + (v1 ? 4 : 6)), ' ');
  dict += '\n';

  std::string head(kMagic, kMagicLen);
  head += char(v1 ? 1 : 2);
  head += char(0);
  const uint32_t hlen = uint32_t(dict.size());
  for (int i = 0; i < (v1 ? 2 : 4); ++i) head += char((hlen >> (8 * i)) & 0xff);

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail("cannot create npy file '", path, "': ", std::strerror(errno));
  out.write(head.data(), std::streamsize(head.size()));
  out.write(dict.data(), std::streamsize(dict.size()));
  if (nbytes) out.write(static_cast<const char*>(data), std::streamsize(nbytes));
  out.close();
  if (!out) fail("cannot write npy file '", path, "'");
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<float> NpyArray::as_f32() const {
  return std::vector<float>(values.begin(), values.end());
}

NpyArray read_npy(const std::string& path) {
  const MappedFile file(path);
  const std::byte* p = file.data();
  const size_t size = file.size();
  const std::string where = "npy file '" + path + "'";
  check(size >= kMagicLen + 2 && std::memcmp(p, kMagic, kMagicLen) == 0, where,
        ": not a .npy file (no \\x93NUMPY magic)");
  const int major = std::to_integer<int>(p[6]), minor = std::to_integer<int>(p[7]);
  check(major >= 1 && major <= 3 && minor == 0, where, ": unsupported format version ", major, ".",
        minor, " (supported: 1.0, 2.0, 3.0)");
  const size_t len_bytes = major == 1 ? 2 : 4;
  check(size >= 8 + len_bytes, where, ": truncated in the header length");
  size_t header_len = 0;
  for (size_t i = 0; i < len_bytes; ++i)
    header_len |= size_t(std::to_integer<uint8_t>(p[8 + i])) << (8 * i);
  const size_t header_start = 8 + len_bytes;
  check(header_len <= size - header_start, where, ": header length ", header_len,
        " runs past the end of the ", size, "-byte file (truncated?)");

  NpyArray a;
  bool fortran = false;
  HeaderParser(std::string_view(reinterpret_cast<const char*>(p + header_start), header_len), path)
      .parse(&a.descr, &fortran, &a.shape);
  check(!fortran, where, ": Fortran-order arrays are not supported (save with C order)");
  const ElemType t = parse_descr(a.descr, path);
  const int64_t n = checked_numel(a.shape, path);

  const size_t data_start = header_start + header_len;
  const size_t available = size - data_start;
  int64_t needed = 0;
  check(!__builtin_mul_overflow(n, int64_t(t.size), &needed) && uint64_t(needed) <= available,
        where, ": data holds ", available, " bytes but ", a.descr, " shape needs ", n, " x ",
        t.size, " (truncated?)");
  check(uint64_t(needed) == available, where, ": ", available - uint64_t(needed),
        " unexpected bytes after the array data");
  a.values.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i)
    a.values[size_t(i)] = load(t, p + data_start + size_t(i) * size_t(t.size));
  return a;
}

void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data) {
  const int64_t n = checked_numel(shape, path);
  check(n == 0 || data != nullptr, "write_npy_f32 '", path, "': no data");
  write_npy(path, "<f4", shape, data, size_t(n) * 4);
}

void write_npy_bool(const std::string& path, const std::vector<int64_t>& shape,
                    const std::vector<uint8_t>& data) {
  const int64_t n = checked_numel(shape, path);
  check(uint64_t(n) == data.size(), "write_npy_bool '", path, "': shape holds ", n,
        " elements but ", data.size(), " values were given");
  std::vector<uint8_t> bits(data.size());
  for (size_t i = 0; i < data.size(); ++i) bits[i] = data[i] ? 1 : 0;
  write_npy(path, "|b1", shape, bits.data(), bits.size());
}

}  // namespace yopo
