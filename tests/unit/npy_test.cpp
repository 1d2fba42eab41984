// .npy files are built byte by byte here from the NumPy format definition (magic, version,
// little-endian header length, Python-literal dict padded with spaces and ended by '\n').
#include "io/npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"
#include "support/test_paths.h"

namespace yopo {
namespace {

// A whole .npy file: header dict padded so that the data starts at a multiple of 64.
std::string npy_bytes(int major, const std::string& dict, const std::string& data) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string s = "\x93NUMPY";
  s += char(major);
  s += char(0);
  for (size_t i = 0; i < prefix - 8; ++i) s += char((header.size() >> (8 * i)) & 0xff);
  return s + header + data;
}

template <class T>
std::string le_bytes(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // the host is little-endian
    s.append(b, sizeof(T));
  }
  return s;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

NpyArray read_bytes(const std::string& bytes) {
  const std::string path = test::temp_dir() + "/a.npy";
  write_file(path, bytes);
  return read_npy(path);
}

std::string dict(const std::string& descr, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
}

TEST(Npy, ReadsF32Matrix) {
  const NpyArray a =
      read_bytes(npy_bytes(1, dict("<f4", "(2, 3)"), le_bytes<float>({1, 2, 3, 4.5f, -5, 6})));
  EXPECT_EQ(a.descr, "<f4");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.numel(), 6);
  EXPECT_EQ(a.values, (std::vector<double>{1, 2, 3, 4.5, -5, 6}));
  EXPECT_EQ(a.as_f32(), (std::vector<float>{1, 2, 3, 4.5f, -5, 6}));
}

TEST(Npy, ReadsBoolVector) {
  const NpyArray a = read_bytes(npy_bytes(1, dict("|b1", "(5,)"), std::string("\1\0\1\1\0", 5)));
  EXPECT_EQ(a.shape, (std::vector<int64_t>{5}));
  EXPECT_EQ(a.values, (std::vector<double>{1, 0, 1, 1, 0}));
}

TEST(Npy, ReadsI64Scalar) {
  const NpyArray a =
      read_bytes(npy_bytes(1, dict("<i8", "()"), le_bytes<int64_t>({-1234567890123})));
  EXPECT_TRUE(a.shape.empty());
  EXPECT_EQ(a.numel(), 1);
  EXPECT_EQ(a.values, (std::vector<double>{-1234567890123.0}));
}

TEST(Npy, ReadsVersion2And3Headers) {
  for (int major : {2, 3}) {
    const NpyArray a = read_bytes(
        npy_bytes(major, dict("<f8", "(5,)"), le_bytes<double>({0.1, 0.2, 0.3, -1e300, 0})));
    EXPECT_EQ(a.shape, (std::vector<int64_t>{5}));
    EXPECT_EQ(a.values, (std::vector<double>{0.1, 0.2, 0.3, -1e300, 0}));
  }
}

TEST(Npy, ReadsOtherElementTypes) {
  EXPECT_EQ(
      read_bytes(npy_bytes(1, dict("<f2", "(2,)"), le_bytes<uint16_t>({0x3c00, 0xc000}))).values,
      (std::vector<double>{1, -2}));
  EXPECT_EQ(read_bytes(npy_bytes(1, dict("|u1", "(2,)"), std::string("\x00\xff", 2))).values,
            (std::vector<double>{0, 255}));
  EXPECT_EQ(read_bytes(npy_bytes(1, dict("|i1", "(2,)"), "\x7f\x80")).values,
            (std::vector<double>{127, -128}));
  EXPECT_EQ(read_bytes(npy_bytes(1, dict("<i2", "(1,)"), le_bytes<int16_t>({-2}))).values,
            (std::vector<double>{-2}));
  EXPECT_EQ(read_bytes(npy_bytes(1, dict("<u2", "(1,)"), le_bytes<uint16_t>({65535}))).values,
            (std::vector<double>{65535}));
  EXPECT_EQ(read_bytes(npy_bytes(1, dict("<i4", "(1,)"), le_bytes<int32_t>({-70000}))).values,
            (std::vector<double>{-70000}));
  EXPECT_EQ(read_bytes(npy_bytes(1, dict("<u4", "(1,)"), le_bytes<uint32_t>({4000000000u}))).values,
            (std::vector<double>{4000000000.0}));
  EXPECT_EQ(read_bytes(npy_bytes(1, dict("<u8", "(1,)"), le_bytes<uint64_t>({1ull << 40}))).values,
            (std::vector<double>{1099511627776.0}));
  // Big-endian: bytes written most significant first.
  EXPECT_EQ(
      read_bytes(npy_bytes(1, dict(">f4", "(1,)"), std::string("\x3f\xc0\x00\x00", 4))).values,
      (std::vector<double>{1.5}));
  EXPECT_EQ(read_bytes(npy_bytes(1, dict(">i2", "(1,)"), "\xff\xfe")).values,
            (std::vector<double>{-2}));
  EXPECT_EQ(read_bytes(npy_bytes(1, dict(">f8", "(1,)"),
                                 std::string("\xc0\x00\x00\x00\x00\x00\x00\x00", 8)))
                .values,
            (std::vector<double>{-2}));
}

TEST(Npy, AcceptsHeaderVariants) {
  // Other key order, double quotes, no trailing comma, Python 2 long literals, empty arrays.
  EXPECT_EQ(
      read_bytes(npy_bytes(1, "{\"shape\": (2L, 1L), \"fortran_order\": False, \"descr\": \"<i4\"}",
                           le_bytes<int32_t>({3, 4})))
          .values,
      (std::vector<double>{3, 4}));
  const NpyArray empty = read_bytes(npy_bytes(1, dict("<f4", "(0, 3)"), ""));
  EXPECT_EQ(empty.shape, (std::vector<int64_t>{0, 3}));
  EXPECT_TRUE(empty.values.empty());
}

TEST(Npy, WriteF32MatchesNumpyLayout) {
  const std::string path = test::temp_dir() + "/w.npy";
  const float data[] = {0, 1, 2, 3, 4, 5};
  write_npy_f32(path, {2, 3}, data);
  // What numpy.save writes for np.arange(6, dtype='<f4').reshape(2, 3) (numpy 2.x): header
  // length 0x76, the dict, padding spaces (room for growing axis 0), '\n', then the data.
  std::string expected = std::string("\x93NUMPY\x01\x00\x76\x00", 10) +
                         "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  expected.append(127 - expected.size(), ' ');
  expected += '\n';
  expected += le_bytes<float>({0, 1, 2, 3, 4, 5});
  EXPECT_EQ(read_file(path), expected);

  const NpyArray a = read_npy(path);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.as_f32(), std::vector<float>(data, data + 6));
}

TEST(Npy, WriteRoundTrips) {
  const std::string dir = test::temp_dir();
  const float scalar = -3.25f;
  write_npy_f32(dir + "/s.npy", {}, &scalar);
  EXPECT_EQ(read_npy(dir + "/s.npy").values, (std::vector<double>{-3.25}));
  write_npy_f32(dir + "/e.npy", {0}, nullptr);
  EXPECT_EQ(read_npy(dir + "/e.npy").shape, (std::vector<int64_t>{0}));
  std::vector<float> big(70000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = float(i) * 0.5f;
  write_npy_f32(dir + "/b.npy", {7, 10000}, big.data());
  EXPECT_EQ(read_npy(dir + "/b.npy").as_f32(), big);

  write_npy_bool(dir + "/m.npy", {2, 2}, {1, 0, 0, 7});
  const NpyArray m = read_npy(dir + "/m.npy");
  EXPECT_EQ(m.descr, "|b1");
  EXPECT_EQ(m.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(m.values, (std::vector<double>{1, 0, 0, 1}));
  // numpy's layout for np.array([True, False, True, True, False]).
  write_npy_bool(dir + "/v.npy", {5}, {1, 0, 1, 1, 0});
  std::string expected = std::string("\x93NUMPY\x01\x00\x76\x00", 10) +
                         "{'descr': '|b1', 'fortran_order': False, 'shape': (5,), }";
  expected.append(127 - expected.size(), ' ');
  expected += '\n';
  expected += std::string("\1\0\1\1\0", 5);
  EXPECT_EQ(read_file(dir + "/v.npy"), expected);

  EXPECT_THROW(write_npy_bool(dir + "/x.npy", {3}, {1, 0}), Error);
  EXPECT_THROW(write_npy_f32(dir + "/x.npy", {-1}, &scalar), Error);
  EXPECT_THROW(write_npy_f32(dir + "/no/such/dir.npy", {}, &scalar), Error);
}

TEST(Npy, CorruptFilesThrowErrorsNamingTheFile) {
  const std::string f4 = le_bytes<float>({1, 2});
  const std::string good_dict = dict("<f4", "(2,)");
  std::string bad_magic = npy_bytes(1, good_dict, f4);
  bad_magic[1] = 'M';
  std::string v4 = npy_bytes(1, good_dict, f4);
  v4[6] = 4;
  std::string long_len = npy_bytes(1, good_dict, f4);
  long_len[9] = '\x7f';
  const struct {
    const char* what;
    std::string bytes;
    const char* message_part;
  } cases[] = {
      {"empty", "", "magic"},
      {"bad magic", bad_magic, "magic"},
      {"version 4.0", v4, "version 4.0"},
      {"header length past end", long_len, "header length"},
      {"fortran order",
       npy_bytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", f4), "Fortran"},
      {"missing key", npy_bytes(1, "{'descr': '<f4', 'shape': (2,), }", f4), "must hold"},
      {"extra key",
       npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", f4),
       "unexpected key 'x'"},
      {"duplicate key",
       npy_bytes(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", f4),
       "twice"},
      {"unclosed dict", npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", f4),
       "header"},
      {"not a dict", npy_bytes(1, "[1, 2]", f4), "expected '{'"},
      {"negative dim", npy_bytes(1, dict("<f4", "(-2,)"), f4), "non-negative"},
      {"int shape", npy_bytes(1, dict("<f4", "2"), f4), "expected '('"},
      {"one-element tuple without comma", npy_bytes(1, dict("<f4", "(2)"), f4), "trailing comma"},
      {"huge dim", npy_bytes(1, dict("<f4", "(99999999999999999999,)"), f4), "too large"},
      {"complex", npy_bytes(1, dict("<c8", "(1,)"), f4), "unsupported descr '<c8'"},
      {"no byte order", npy_bytes(1, dict("|f4", "(2,)"), f4), "byte order"},
      {"structured",
       npy_bytes(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", f4),
       "structured"},
      {"object", npy_bytes(1, dict("|O", "(2,)"), f4), "unsupported descr"},
      {"truncated data", npy_bytes(1, dict("<f4", "(3,)"), f4), "truncated"},
      {"trailing bytes", npy_bytes(1, dict("<f4", "(1,)"), f4), "unexpected bytes"},
      {"absurd shape", npy_bytes(1, dict("<f4", "(4611686018427387904, 4)"), f4), "absurdly large"},
  };
  const std::string dir = test::temp_dir();
  int i = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string path = dir + "/bad" + std::to_string(i++) + ".npy";
    write_file(path, c.bytes);
    try {
      read_npy(path);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      EXPECT_NE(msg.find(c.message_part), std::string::npos) << msg;
    }
  }
  EXPECT_THROW(read_npy(dir + "/absent.npy"), Error);
}

TEST(Npy, EveryTruncationThrows) {
  const std::string full = npy_bytes(1, dict("<i8", "(2, 2)"), le_bytes<int64_t>({1, 2, 3, 4}));
  const std::string path = test::temp_dir() + "/cut.npy";
  for (size_t n = 0; n < full.size(); ++n) {
    write_file(path, full.substr(0, n));
    EXPECT_THROW(read_npy(path), Error) << "truncated at " << n;
  }
}

TEST(Npy, ByteFlipsThrowOnlyYopoErrors) {
  const std::string full = npy_bytes(2, dict("<f4", "(2, 2)"), le_bytes<float>({1, 2, 3, 4}));
  const std::string path = test::temp_dir() + "/flip.npy";
  const char subst[] = {'\0', '\xff', '0', '9', '(', ')', ',', '\'', '{', '}', '>', 'L', ' '};
  constexpr size_t kSubst = sizeof(subst);
  for (size_t pos = 0; pos < full.size(); ++pos) {
    // A few substitutions per byte, varied along the file.
    for (size_t k : {pos % kSubst, (pos * 5 + 3) % kSubst, (pos * 11 + 7) % kSubst}) {
      const char c = subst[k];
      std::string bytes = full;
      if (bytes[pos] == c) continue;
      bytes[pos] = c;
      write_file(path, bytes);
      try {
        const NpyArray a = read_npy(path);
        EXPECT_EQ(int64_t(a.values.size()), a.numel());
      } catch (const Error&) {
      } catch (const std::exception& e) {
        ADD_FAILURE() << "byte " << pos << " -> " << int(c) << ": non-yopo exception " << e.what();
      }
    }
  }
}

}  // namespace
}  // namespace yopo
