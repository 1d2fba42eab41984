// GGUF reader: files built by hand with GgufBuilder, the real shared assets, and corrupted
// files (each corruption must end in yopo::Error, never a crash or an out-of-file pointer).
#include "io/gguf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "support/gguf_builder.h"
#include "support/test_paths.h"

namespace yopo {
namespace {

using test::GgufBuilder;
using ::testing::HasSubstr;

constexpr uint32_t kF32 = 0, kF16 = 1, kQ8_0 = 8, kQ3_K = 11, kQ4_K = 12, kI32 = 26, kF64 = 28,
                   kBF16 = 30;

std::string tmp(const std::string& name) {
  return test::temp_dir() + "/" + name;
}

// A directory for the many files the corruption tests write: in memory (/dev/shm) when the
// system has it, else the usual temporary directory.
// Removed (with its files) when the test program exits.
std::string scratch(const std::string& name) {
  struct Dir {
    std::string path;
    Dir() {
      std::string templ = "/dev/shm/yopo-gguf-test-XXXXXX";
      path = ::mkdtemp(templ.data()) ? templ : test::temp_dir();
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path + "/" + name;
}

// Overwrites bytes of an existing file in place.
void patch_file(const std::string& path, size_t at, const std::vector<uint8_t>& bytes) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  ASSERT_TRUE(f.good()) << path;
  f.seekp(std::streamoff(at));
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

std::vector<uint8_t> le16s(const std::vector<uint16_t>& v) {
  std::vector<uint8_t> out;
  for (uint16_t x : v) {
    out.push_back(uint8_t(x & 0xff));
    out.push_back(uint8_t(x >> 8));
  }
  return out;
}

template <class T>
void poke(std::vector<uint8_t>& bytes, size_t at, T v) {
  std::memcpy(bytes.data() + at, &v, sizeof(T));
}

// Opens path; returns "" on success (after checking that every tensor lies in the mapping and
// converting each to float), else the yopo::Error message. Any other exception fails.
std::string open_error(const std::string& path) {
  try {
    GgufFile f(path);
    const std::byte* begin = f.file_data();
    const std::byte* end = begin + f.file_size();
    for (const RawTensor& t : f.tensors()) {
      EXPECT_GE(t.data, begin) << t.name;
      EXPECT_LE(t.nbytes, size_t(end - t.data)) << t.name;
      EXPECT_EQ(size_t(dtype_nbytes(t.dtype, t.numel())), t.nbytes) << t.name;
      if (t.dtype == DType::I8 || t.dtype == DType::I16 || t.dtype == DType::I32 ||
          t.dtype == DType::I64)
        continue;
      if (t.numel() <= (int64_t(1) << 22)) {
        std::vector<float> out(size_t(t.numel()));
        convert_to_f32(t, out.data());
      }
    }
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

// A file with every metadata type and several tensor types.
GgufBuilder full_builder(uint32_t version) {
  GgufBuilder b(version);
  b.kv("k.u8", GgufValue::of_uint(GgufType::U8, 250));
  b.kv("k.i8", GgufValue::of_int(GgufType::I8, -120));
  b.kv("k.u16", GgufValue::of_uint(GgufType::U16, 65000));
  b.kv("k.i16", GgufValue::of_int(GgufType::I16, -32000));
  b.kv_u32("k.u32", 4000000000u);
  b.kv_i32("k.i32", -2000000000);
  b.kv_f32("k.f32", 1e-5f);
  b.kv_bool("k.true", true);
  b.kv_bool("k.false", false);
  b.kv_string("k.str", "h\xc3\xa9llo \"w\"\n");
  b.kv_string("k.empty", "");
  b.kv_u64("k.u64", std::numeric_limits<uint64_t>::max());
  b.kv("k.i64", GgufValue::of_int(GgufType::I64, std::numeric_limits<int64_t>::min()));
  b.kv("k.f64", GgufValue::of_float(GgufType::F64, -2.5e300));
  b.kv_strings("k.strs", {"<unk>", "", "\xe2\x96\x81the", "b"});
  b.kv_f32s("k.f32s", {0.5f, -1.25f, 3.0f});
  b.kv_i32s("k.i32s", {2, 3, -6});
  b.kv("k.u8s", GgufValue::of_array(GgufType::U8, {GgufValue::of_uint(GgufType::U8, 1),
                                                   GgufValue::of_uint(GgufType::U8, 255)}));
  b.kv("k.nested", GgufValue::of_array(
                       GgufType::ARRAY,
                       {GgufValue::of_array(GgufType::I16, {GgufValue::of_int(GgufType::I16, -1),
                                                            GgufValue::of_int(GgufType::I16, 7)}),
                        GgufValue::of_array(GgufType::STRING, {GgufValue::of_string("x")}),
                        GgufValue::of_array(GgufType::U64, {})}));
  b.kv("k.emptyarr", GgufValue::of_array(GgufType::F64, {}));
  b.alignment(64);
  // F32 [2, 3].
  b.tensor_f32("t.f32", {2, 3}, {1, 2, 3, 4, 5, -6});
  // F16 [5]: 1.0, -2.0, 65504 (largest half), 2^-24 (smallest subnormal), 0.333251953125.
  b.tensor("t.f16", kF16, {5}, le16s({0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555}));
  // BF16 [1, 3]: 1.0, -3.0, 3.140625.
  b.tensor("t.bf16", kBF16, {1, 3}, le16s({0x3f80, 0xc040, 0x4049}));
  // Q8_0 [2, 32]: row 0 d = 0.5 (0x3800), q = v - 16; row 1 d = -2.0 (0xc000), q = 100 - v.
  std::vector<uint8_t> q8;
  for (int row = 0; row < 2; ++row) {
    q8.push_back(0x00);
    q8.push_back(row == 0 ? 0x38 : 0xc0);
    for (int v = 0; v < 32; ++v) q8.push_back(uint8_t(row == 0 ? v - 16 : 100 - v));
  }
  b.tensor("t.q8_0", kQ8_0, {2, 32}, q8);
  // I32 [4].
  std::vector<uint8_t> i32(16);
  const int32_t iv[4] = {7, -7, 0, 123456};
  std::memcpy(i32.data(), iv, 16);
  b.tensor("t.i32", kI32, {4}, i32);
  // F64 [2]: 0.1 and -1e10.
  std::vector<uint8_t> f64(16);
  const double dv[2] = {0.1, -1e10};
  std::memcpy(f64.data(), dv, 16);
  b.tensor("t.f64", kF64, {2}, f64);
  // Q4_K [2, 256]: all zero bytes.
  b.tensor("t.q4_k", kQ4_K, {2, 256}, std::vector<uint8_t>(2 * 144, 0));
  // Q3_K [256] (unsupported): 110 bytes.
  b.tensor("blk.0.attn_q.weight", kQ3_K, {256}, std::vector<uint8_t>(110, 0));
  // 4-D F32 [1, 2, 1, 3].
  b.tensor_f32("t.4d", {1, 2, 1, 3}, {0, 1, 2, 3, 4, 5});
  return b;
}

class GgufRoundTrip : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GgufRoundTrip, MetadataAndTensors) {
  GgufBuilder b = full_builder(GetParam());
  const std::string path = b.write(tmp("full.gguf"));
  const test::GgufLayout layout = b.layout();
  GgufFile f(path);
  EXPECT_EQ(f.version(), GetParam());
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.data_offset(), layout.data_start);
  EXPECT_EQ(f.data_offset() % 64, 0u);

  // Metadata in file order.
  const auto& md = f.metadata();
  ASSERT_EQ(md.size(), 21u);
  EXPECT_EQ(md[0].first, "k.u8");
  EXPECT_EQ(md[13].first, "k.f64");
  EXPECT_EQ(md[20].first, "general.alignment");
  EXPECT_EQ(f.get_int("k.u8"), 250);
  EXPECT_EQ(f.get_int("k.i8"), -120);
  EXPECT_EQ(f.get_int("k.u16"), 65000);
  EXPECT_EQ(f.get_int("k.i16"), -32000);
  EXPECT_EQ(f.get_int("k.u32"), 4000000000LL);
  EXPECT_EQ(f.get_int("k.i32"), -2000000000);
  EXPECT_EQ(f.find_value("k.u64")->u, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f.find_value("k.u64")->type, GgufType::U64);
  EXPECT_THROW(f.get_int("k.u64"), Error);  // beyond int64
  EXPECT_EQ(f.get_int("k.i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f.get_float("k.f32"), double(1e-5f));
  EXPECT_EQ(f.get_float("k.f64"), -2.5e300);
  EXPECT_EQ(f.get_float("k.i32"), -2e9);  // integers read as numbers
  EXPECT_TRUE(f.get_bool("k.true", false));
  EXPECT_FALSE(f.get_bool("k.false", true));
  EXPECT_EQ(f.get_string("k.str"), "h\xc3\xa9llo \"w\"\n");
  EXPECT_EQ(f.get_string("k.empty"), "");
  EXPECT_EQ(f.get_string_array("k.strs"),
            (std::vector<std::string>{"<unk>", "", "\xe2\x96\x81the", "b"}));
  EXPECT_EQ(f.get_float_array("k.f32s"), (std::vector<double>{0.5, -1.25, 3.0}));
  EXPECT_EQ(f.get_int_array("k.i32s"), (std::vector<int64_t>{2, 3, -6}));
  EXPECT_EQ(f.get_float_array("k.i32s"), (std::vector<double>{2, 3, -6}));
  EXPECT_EQ(f.get_int_array("k.u8s"), (std::vector<int64_t>{1, 255}));
  EXPECT_TRUE(f.get_float_array("k.emptyarr").empty());
  const GgufValue* nested = f.find_value("k.nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->type, GgufType::ARRAY);
  EXPECT_EQ(nested->elem_type, GgufType::ARRAY);
  ASSERT_EQ(nested->items.size(), 3u);
  EXPECT_EQ(nested->items[0].elem_type, GgufType::I16);
  ASSERT_EQ(nested->items[0].items.size(), 2u);
  EXPECT_EQ(nested->items[0].items[0].i, -1);
  EXPECT_EQ(nested->items[0].items[1].i, 7);
  EXPECT_EQ(nested->items[1].items[0].str, "x");
  EXPECT_EQ(nested->items[2].elem_type, GgufType::U64);
  EXPECT_TRUE(nested->items[2].items.empty());
  EXPECT_EQ(f.get_int("general.alignment"), 64);

  // Lookups: absent keys and wrong types.
  EXPECT_EQ(f.find_value("nope"), nullptr);
  EXPECT_FALSE(f.has("nope"));
  EXPECT_TRUE(f.has("k.str"));
  EXPECT_EQ(f.get_int("nope", 42), 42);
  EXPECT_EQ(f.get_float("nope", 0.5), 0.5);
  EXPECT_TRUE(f.get_bool("nope", true));
  EXPECT_THROW(f.get_int("nope"), Error);
  EXPECT_THROW(f.get_string("nope"), Error);
  EXPECT_THROW(f.get_float("nope"), Error);
  EXPECT_THROW(f.get_string_array("nope"), Error);
  EXPECT_THROW(f.get_int("k.str"), Error);
  EXPECT_THROW(f.get_int("k.f32"), Error);
  EXPECT_THROW(f.get_int("k.str", 1), Error);
  EXPECT_THROW(f.get_float("k.str", 1.0), Error);
  EXPECT_THROW(f.get_string("k.u32"), Error);
  EXPECT_THROW(f.get_bool("k.u8", false), Error);
  EXPECT_THROW(f.get_string_array("k.i32s"), Error);
  EXPECT_THROW(f.get_int_array("k.f32s"), Error);
  EXPECT_THROW(f.get_int_array("k.strs"), Error);
  EXPECT_THROW(f.get_float_array("k.str"), Error);
  try {
    f.get_string("k.u32");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("k.u32"));
    EXPECT_THAT(e.what(), HasSubstr(path));
    EXPECT_THAT(e.what(), HasSubstr("uint32"));
  }

  // Tensors (supported ones, in file order) and the unsupported one.
  const auto& ts = f.tensors();
  ASSERT_EQ(ts.size(), 8u);
  const std::vector<std::string> names = {"t.f32", "t.f16", "t.bf16", "t.q8_0",
                                          "t.i32", "t.f64", "t.q4_k", "t.4d"};
  for (size_t k = 0; k < names.size(); ++k) EXPECT_EQ(ts[k].name, names[k]);
  EXPECT_EQ(ts[0].dtype, DType::F32);
  EXPECT_EQ(ts[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(ts[0].nbytes, 24u);
  EXPECT_EQ(ts[1].dtype, DType::F16);
  EXPECT_EQ(ts[2].dtype, DType::BF16);
  EXPECT_EQ(ts[2].shape, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(ts[3].dtype, DType::Q8_0);
  EXPECT_EQ(ts[3].shape, (std::vector<int64_t>{2, 32}));
  EXPECT_EQ(ts[3].nbytes, 68u);
  EXPECT_EQ(ts[4].dtype, DType::I32);
  EXPECT_EQ(ts[5].dtype, DType::F64);
  EXPECT_EQ(ts[6].dtype, DType::Q4_K);
  EXPECT_EQ(ts[6].nbytes, 288u);
  EXPECT_EQ(ts[7].shape, (std::vector<int64_t>{1, 2, 1, 3}));
  // Data pointers: where the builder put the bytes, each aligned to 64 in the file.
  for (const RawTensor& t : ts) {
    const size_t at = size_t(t.data - f.file_data());
    EXPECT_EQ(at % 64, 0u) << t.name;
  }
  EXPECT_EQ(size_t(ts[0].data - f.file_data()), layout.tensors[0].data_at);
  EXPECT_EQ(size_t(ts[7].data - f.file_data()), layout.tensors[8].data_at);
  EXPECT_EQ(&f.tensor("t.q8_0"), &ts[3]);
  EXPECT_EQ(f.find("t.bf16"), &ts[2]);

  ASSERT_EQ(f.unsupported_tensors().size(), 1u);
  EXPECT_EQ(f.unsupported_tensors()[0].first, "blk.0.attn_q.weight");
  EXPECT_EQ(f.unsupported_tensors()[0].second, "Q3_K");
  ASSERT_NE(f.unsupported_type("blk.0.attn_q.weight"), nullptr);
  EXPECT_EQ(*f.unsupported_type("blk.0.attn_q.weight"), "Q3_K");
  EXPECT_EQ(f.unsupported_type("t.f32"), nullptr);
  EXPECT_EQ(f.find("blk.0.attn_q.weight"), nullptr);
  ASSERT_EQ(f.tensor_infos().size(), 9u);
  EXPECT_EQ(f.tensor_infos()[7].name, "blk.0.attn_q.weight");
  EXPECT_EQ(f.tensor_infos()[7].ggml_type, 11u);
  EXPECT_FALSE(f.tensor_infos()[7].supported);
  EXPECT_EQ(f.tensor_infos()[7].shape, (std::vector<int64_t>{256}));
  try {
    f.tensor("blk.0.attn_q.weight");
    ADD_FAILURE() << "an unsupported tensor was returned";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("tensor 'blk.0.attn_q.weight' has GGML type Q3_K (11), "
                                    "which yopo does not support"));
  }
  try {
    f.tensor("missing.weight");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing.weight"));
  }

  // convert_to_f32.
  std::vector<float> out(8);
  convert_to_f32(f.tensor("t.f32"), out.data());
  EXPECT_EQ(std::vector<float>(out.begin(), out.begin() + 6),
            (std::vector<float>{1, 2, 3, 4, 5, -6}));
  convert_to_f32(f.tensor("t.f16"), out.data());
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(out[2], 65504.0f);
  EXPECT_EQ(out[3], std::ldexp(1.0f, -24));
  EXPECT_EQ(out[4], 0.333251953125f);
  convert_to_f32(f.tensor("t.bf16"), out.data());
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -3.0f);
  EXPECT_EQ(out[2], 3.140625f);
  convert_to_f32(f.tensor("t.f64"), out.data());
  EXPECT_EQ(out[0], 0.1f);
  EXPECT_EQ(out[1], -1e10f);
  std::vector<float> q(64);
  convert_to_f32(f.tensor("t.q8_0"), q.data());
  for (int v = 0; v < 32; ++v) {
    EXPECT_EQ(q[v], 0.5f * float(v - 16)) << v;
    EXPECT_EQ(q[32 + v], -2.0f * float(100 - v)) << v;
  }
  std::vector<float> k(512, 1.0f);
  convert_to_f32(f.tensor("t.q4_k"), k.data());
  for (float x : k) EXPECT_EQ(x, 0.0f);
  try {
    convert_to_f32(f.tensor("t.i32"), out.data());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("t.i32"));
    EXPECT_THAT(e.what(), HasSubstr("I32"));
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, GgufRoundTrip, ::testing::Values(2u, 3u));

TEST(Gguf, FormatValue) {
  EXPECT_EQ(format_gguf_value(GgufValue::of_uint(GgufType::U32, 42)), "42");
  EXPECT_EQ(format_gguf_value(GgufValue::of_int(GgufType::I8, -3)), "-3");
  EXPECT_EQ(format_gguf_value(GgufValue::of_float(GgufType::F32, 1e-5f)), "1e-05");
  EXPECT_EQ(format_gguf_value(GgufValue::of_float(GgufType::F64, 0.5)), "0.5");
  EXPECT_EQ(format_gguf_value(GgufValue::of_bool(true)), "true");
  EXPECT_EQ(format_gguf_value(GgufValue::of_string("a\"b\\c\n\x01")), "\"a\\\"b\\\\c\\n\\x01\"");
  std::vector<GgufValue> items;
  for (int i = 0; i < 10; ++i) items.push_back(GgufValue::of_int(GgufType::I32, i));
  const GgufValue arr = GgufValue::of_array(GgufType::I32, items);
  EXPECT_EQ(format_gguf_value(arr, 3), "[0, 1, 2, ... (10 items)]");
  EXPECT_EQ(format_gguf_value(arr, 10), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
  EXPECT_EQ(format_gguf_value(arr, 0), "[... (10 items)]");
  EXPECT_EQ(format_gguf_value(GgufValue::of_array(
                GgufType::STRING, {GgufValue::of_string("x"), GgufValue::of_string("y")})),
            "[\"x\", \"y\"]");
  EXPECT_EQ(format_gguf_value(GgufValue::of_array(GgufType::ARRAY, {arr}), 2),
            "[[0, 1, ... (10 items)]]");
  EXPECT_EQ(format_gguf_value(GgufValue::of_array(GgufType::U8, {})), "[]");
}

TEST(Gguf, TypeNames) {
  EXPECT_EQ(ggml_type_name(11), "Q3_K");
  EXPECT_EQ(ggml_type_name(30), "BF16");
  EXPECT_EQ(ggml_type_name(1000), "type 1000");
  for (int t = 0; t < 16; ++t) {
    const DType d = DType(t);
    EXPECT_EQ(dtype_from_ggml_type(ggml_type_from_dtype(d)), d);
    EXPECT_EQ(ggml_type_name(ggml_type_from_dtype(d)), dtype_name(d));
  }
  for (uint32_t id : {4u, 5u, 9u, 10u, 11u, 15u, 16u, 23u, 29u, 31u, 39u, 200u})
    EXPECT_FALSE(dtype_from_ggml_type(id).has_value()) << id;
}

TEST(Gguf, DefaultAlignmentAndNoTensors) {
  GgufBuilder b(3);
  b.kv_string("general.architecture", "llama");
  b.tensor_f32("a", {3}, {1, 2, 3});
  b.tensor_f32("b", {1}, {4});
  const std::string path = b.write(tmp("default.gguf"));
  GgufFile f(path);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  EXPECT_EQ(size_t(f.tensor("b").data - f.tensor("a").data), 32u);

  GgufBuilder empty(3);
  empty.kv_u32("x", 1);
  GgufFile e(empty.write(tmp("empty.gguf")));
  EXPECT_TRUE(e.tensors().empty());
  EXPECT_EQ(e.get_int("x"), 1);

  GgufBuilder nothing(2);
  GgufFile n(nothing.write(tmp("nothing.gguf")));
  EXPECT_TRUE(n.metadata().empty());
  EXPECT_TRUE(n.tensors().empty());
}

TEST(Gguf, UnknownTypeIdIsListedNotFatal) {
  GgufBuilder b(3);
  b.tensor_raw("future", 200, {32}, std::vector<uint8_t>(40, 0));
  b.tensor_f32("ok", {2}, {1, 2});
  GgufFile f(b.write(tmp("future.gguf")));
  ASSERT_EQ(f.tensors().size(), 1u);
  ASSERT_EQ(f.unsupported_tensors().size(), 1u);
  EXPECT_EQ(f.unsupported_tensors()[0].second, "type 200");
  EXPECT_THROW(f.tensor("future"), Error);
}

std::string build_error(GgufBuilder& b, const std::string& name) {
  return open_error(b.write(tmp(name)));
}

TEST(Gguf, RejectsBadHeaders) {
  const std::string dir = test::temp_dir();
  GgufBuilder b(3);
  b.kv_u32("x", 1);
  b.tensor_f32("t", {2}, {1, 2});
  const std::vector<uint8_t> good = b.bytes();
  const test::GgufLayout L = b.layout();

  auto err = [&](std::vector<uint8_t> bytes) {
    const std::string p = dir + "/h.gguf";
    test::write_file(p, bytes);
    return open_error(p);
  };
  EXPECT_EQ(err(good), "");

  EXPECT_THAT(err({}), HasSubstr("too small"));
  EXPECT_THAT(err({'G', 'G', 'U'}), HasSubstr("too small"));
  std::vector<uint8_t> bad = good;
  bad[0] = 'g';
  EXPECT_THAT(err(bad), HasSubstr("not a GGUF file"));
  EXPECT_THAT(err(bad), HasSubstr(dir));
  bad = good;
  poke<uint32_t>(bad, L.version_at, 1);
  EXPECT_THAT(err(bad), HasSubstr("version 1 is not supported"));
  poke<uint32_t>(bad, L.version_at, 99);
  EXPECT_THAT(err(bad), HasSubstr("unsupported GGUF version 99"));
  poke<uint32_t>(bad, L.version_at, 0x03000000);
  EXPECT_THAT(err(bad), HasSubstr("big-endian"));
  poke<uint32_t>(bad, L.version_at, 0);
  EXPECT_NE(err(bad), "");

  for (uint64_t n : {uint64_t(2), uint64_t(1000), uint64_t(1) << 40, ~uint64_t(0)}) {
    bad = good;
    poke<uint64_t>(bad, L.tensor_count_at, n);
    EXPECT_NE(err(bad), "") << "tensor count " << n;
    bad = good;
    poke<uint64_t>(bad, L.kv_count_at, n);
    EXPECT_NE(err(bad), "") << "kv count " << n;
  }
  bad = good;
  poke<uint64_t>(bad, L.kv_count_at, ~uint64_t(0));
  EXPECT_THAT(err(bad), HasSubstr("impossible"));
  // Key length: huge, just past the end, and off by a little.
  for (uint64_t n : {~uint64_t(0), uint64_t(good.size()), uint64_t(2), uint64_t(0)}) {
    bad = good;
    poke<uint64_t>(bad, L.kvs[0].key_len_at, n);
    EXPECT_NE(err(bad), "") << "key length " << n;
  }
  // Value type out of range.
  bad = good;
  poke<uint32_t>(bad, L.kvs[0].type_at, 13);
  EXPECT_THAT(err(bad), HasSubstr("value type 13"));
  // Tensor name length.
  for (uint64_t n : {~uint64_t(0), uint64_t(1) << 32, uint64_t(good.size())}) {
    bad = good;
    poke<uint64_t>(bad, L.tensors[0].name_len_at, n);
    EXPECT_NE(err(bad), "") << "name length " << n;
  }
  // n_dims.
  for (uint32_t n : {0u, 2u, 5u, 0xffffffffu}) {
    bad = good;
    poke<uint32_t>(bad, L.tensors[0].n_dims_at, n);
    EXPECT_NE(err(bad), "") << "n_dims " << n;
  }
  bad = good;
  poke<uint32_t>(bad, L.tensors[0].n_dims_at, 5);
  EXPECT_THAT(err(bad), HasSubstr("n_dims is 5"));
  // Dimensions: zero, negative as int64, too large for the data.
  for (uint64_t n :
       {uint64_t(0), uint64_t(1) << 63, ~uint64_t(0), uint64_t(3), uint64_t(1) << 61}) {
    bad = good;
    poke<uint64_t>(bad, L.tensors[0].ne_at, n);
    EXPECT_NE(err(bad), "") << "ne[0] " << n;
  }
  // Offsets: misaligned, past the end, wrapping around.
  for (uint64_t n : {uint64_t(4), uint64_t(32), uint64_t(1) << 40, ~uint64_t(0) - 31}) {
    bad = good;
    poke<uint64_t>(bad, L.tensors[0].offset_at, n);
    EXPECT_NE(err(bad), "") << "offset " << n;
  }
  bad = good;
  poke<uint64_t>(bad, L.tensors[0].offset_at, 4);
  EXPECT_THAT(err(bad), HasSubstr("not a multiple of the alignment"));
  // A type change keeps the file readable (the tensor is listed as unsupported) or fails
  // cleanly (the data no longer fits); never anything else.
  for (uint32_t t : {1u, 8u, 11u, 12u, 28u, 999u, 0xffffffffu}) {
    bad = good;
    poke<uint32_t>(bad, L.tensors[0].type_at, t);
    err(bad);
  }
  // Truncated data section.
  bad = good;
  bad.pop_back();
  EXPECT_THAT(err(bad), HasSubstr("past the end"));
}

TEST(Gguf, RejectsBadStructure) {
  {
    GgufBuilder b;
    b.kv_u32("dup", 1).kv_string("dup", "again");
    EXPECT_THAT(build_error(b, "dupkey.gguf"), HasSubstr("'dup'"));
  }
  {
    GgufBuilder b;
    b.tensor_f32("w", {1}, {1}).tensor_f32("w", {1}, {2});
    EXPECT_THAT(build_error(b, "dupname.gguf"), HasSubstr("more than once"));
  }
  for (uint32_t a : {0u, 3u, 48u, 0x80000000u}) {
    GgufBuilder b;
    b.kv_u32("general.alignment", a).layout_alignment(a ? a : 1);
    if (a <= 64) b.tensor_f32("w", {1}, {1});
    EXPECT_THAT(build_error(b, "align.gguf"), HasSubstr("general.alignment")) << a;
  }
  {
    GgufBuilder b;
    b.kv_string("general.alignment", "32");
    EXPECT_THAT(build_error(b, "align_str.gguf"), HasSubstr("general.alignment"));
  }
  {
    // Q8_0 row of 16 values: not a whole block.
    GgufBuilder b;
    b.tensor_raw("q", kQ8_0, {16, 2}, std::vector<uint8_t>(68, 0));
    EXPECT_THAT(build_error(b, "block.gguf"), HasSubstr("block size"));
  }
  {
    // Element count overflow: 2^32 * 2^32.
    GgufBuilder b;
    b.tensor_raw("big", kF32, {uint64_t(1) << 32, uint64_t(1) << 32}, {0, 0, 0, 0});
    EXPECT_THAT(build_error(b, "overflow.gguf"), HasSubstr("overflows"));
  }
  {
    // Byte size overflow: 2^61 F64 values.
    GgufBuilder b;
    b.tensor_raw("big", kF64, {uint64_t(1) << 61}, {0, 0, 0, 0});
    EXPECT_NE(build_error(b, "overflow2.gguf"), "");
  }
  {
    // Data past the end of file.
    GgufBuilder b;
    b.tensor_raw("short", kF32, {100}, std::vector<uint8_t>(40, 0));
    EXPECT_THAT(build_error(b, "short.gguf"), HasSubstr("past the end"));
  }
  {
    // Overlapping tensors are fine.
    GgufBuilder b;
    b.tensor_f32("a", {4}, {1, 2, 3, 4});
    b.tensor_raw("b", kF32, {2}, {}, 0);
    GgufFile f(b.write(tmp("overlap.gguf")));
    EXPECT_EQ(f.tensor("a").data, f.tensor("b").data);
  }
  {
    // Arrays nested deeper than the reader allows.
    GgufValue v = GgufValue::of_array(GgufType::U8, {});
    for (int d = 0; d < 40; ++d) v = GgufValue::of_array(GgufType::ARRAY, {v});
    GgufBuilder b;
    b.kv("deep", v);
    EXPECT_THAT(build_error(b, "deep.gguf"), HasSubstr("nested"));
  }
  {
    // Array element type out of range, array count too large.
    GgufBuilder b;
    b.kv_raw("arr", 9, {13, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0});
    EXPECT_THAT(build_error(b, "arrtype.gguf"), HasSubstr("element type 13"));
    GgufBuilder c;
    c.kv_raw("arr", 9, {4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f});
    EXPECT_THAT(build_error(c, "arrcount.gguf"), HasSubstr("cannot fit"));
    GgufBuilder s;  // array of strings whose second string runs past the end
    s.kv_raw("arr", 9, {8, 0, 0, 0, 2, 0,   0,  0, 0, 0, 0, 0, 1, 0, 0,
                        0, 0, 0, 0, 0, 'a', 99, 0, 0, 0, 0, 0, 0, 0});
    EXPECT_THAT(build_error(s, "arrstr.gguf"), HasSubstr("truncated"));
  }
}

// Every truncation of a valid file must fail (its last tensor ends at the end of the file).
TEST(Gguf, TruncationsOfBuiltFile) {
  GgufBuilder b = full_builder(3);
  const std::vector<uint8_t> good = b.bytes();
  ASSERT_EQ(b.layout().file_size, good.size());
  const std::string p = scratch("trunc.gguf");
  for (size_t n = 0; n < good.size(); ++n) {
    test::write_file(p, std::vector<uint8_t>(good.begin(), good.begin() + long(n)));
    ASSERT_NE(open_error(p), "") << "truncated to " << n << " bytes";
  }
}

// Overwrites each byte of the header and tensor infos with a few values: the reader must
// either fail with yopo::Error or produce tensors inside the file (checked in open_error).
TEST(Gguf, ByteCorruptionsOfBuiltFile) {
  GgufBuilder b = full_builder(3);
  const std::vector<uint8_t> good = b.bytes();
  const size_t header_end = b.layout().data_start;
  const std::string p = scratch("flip.gguf");
  test::write_file(p, good);
  for (size_t at = 0; at < header_end; ++at) {
    for (uint8_t v : {uint8_t(0x00), uint8_t(0xff), uint8_t(0x80), uint8_t(good[at] + 1)}) {
      if (v == good[at]) continue;
      patch_file(p, at, {v});
      open_error(p);
      patch_file(p, at, {good[at]});
      if (::testing::Test::HasFailure()) FAIL() << "byte " << at << " set to " << int(v);
    }
  }
}

TEST(Gguf, StoriesModel) {
  YOPO_REQUIRE_ASSET(path, "models/stories260K.gguf");
  GgufFile f(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.metadata().size(), 19u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f.get_int("llama.embedding_length"), 64);
  EXPECT_EQ(f.get_int("llama.block_count"), 5);
  EXPECT_EQ(f.get_int("llama.attention.head_count"), 8);
  EXPECT_EQ(f.get_int("llama.attention.head_count_kv"), 4);
  EXPECT_EQ(f.get_int("llama.feed_forward_length"), 172);
  EXPECT_EQ(f.get_int("llama.context_length"), 2048);
  EXPECT_NEAR(f.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-10);
  EXPECT_EQ(f.get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(f.get_int("tokenizer.ggml.eos_token_id"), 2);
  const std::vector<std::string> tokens = f.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[3], "<0x00>");
  EXPECT_EQ(f.get_float_array("tokenizer.ggml.scores").size(), 512u);
  const std::vector<int64_t> types = f.get_int_array("tokenizer.ggml.token_type");
  ASSERT_EQ(types.size(), 512u);
  EXPECT_EQ(std::vector<int64_t>(types.begin(), types.begin() + 4),
            (std::vector<int64_t>{2, 3, 3, 6}));

  ASSERT_EQ(f.tensors().size(), 48u);
  EXPECT_TRUE(f.unsupported_tensors().empty());
  for (const RawTensor& t : f.tensors()) EXPECT_EQ(t.dtype, DType::F32) << t.name;
  const RawTensor& emb = f.tensor("token_embd.weight");
  EXPECT_EQ(emb.shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(emb.nbytes, 512u * 64u * 4u);
  EXPECT_EQ(f.tensor("output_norm.weight").shape, (std::vector<int64_t>{64}));
  EXPECT_EQ(f.tensor("blk.0.attn_k.weight").shape, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(f.tensor("blk.4.ffn_down.weight").shape, (std::vector<int64_t>{64, 172}));
  EXPECT_EQ(f.tensor("blk.4.ffn_up.weight").shape, (std::vector<int64_t>{172, 64}));
  // The data section follows 14152 bytes of header, padded to 14176; the last tensor
  // (blk.4.ffn_norm.weight, 256 bytes at data offset 1170944) ends the file.
  EXPECT_EQ(f.data_offset(), 14176u);
  EXPECT_EQ(size_t(emb.data - f.file_data()), 14176u);
  const RawTensor& last = f.tensors().back();
  EXPECT_EQ(last.name, "blk.4.ffn_norm.weight");
  EXPECT_EQ(size_t(last.data - f.file_data()) + last.nbytes, f.file_size());

  // The floats equal the file's bytes read independently.
  const std::vector<uint8_t> raw = test::read_file(path);
  std::vector<float> out(size_t(emb.numel()));
  convert_to_f32(emb, out.data());
  for (size_t i = 0; i < out.size(); i += 97) {
    float v;
    std::memcpy(&v, raw.data() + 14176 + 4 * i, 4);
    ASSERT_EQ(out[i], v) << i;
  }
}

TEST(Gguf, StoriesModelTruncatedAndCorrupted) {
  YOPO_REQUIRE_ASSET(path, "models/stories260K.gguf");
  const std::vector<uint8_t> good = test::read_file(path);
  const std::string p = scratch("stories.gguf");
  const size_t header = 14176 + 64;
  // Every byte of the header region, then a sample through the data.
  for (size_t n = 0; n < good.size(); n += n < header ? 1 : 9973) {
    test::write_file(p, std::vector<uint8_t>(good.begin(), good.begin() + long(n)));
    ASSERT_NE(open_error(p), "") << "truncated to " << n << " bytes";
  }
  test::write_file(p, std::vector<uint8_t>(good.begin(), good.end() - 1));
  EXPECT_THAT(open_error(p), HasSubstr("past the end"));
  // Random overwrites in the header region (fixed seed).
  test::write_file(p, good);
  std::mt19937 rng(11);
  for (int trial = 0; trial < 1500; ++trial) {
    const int n_changes = 1 + int(rng() % 3);
    std::vector<size_t> where;
    for (int k = 0; k < n_changes; ++k) {
      where.push_back(rng() % 14176);
      patch_file(p, where.back(), {uint8_t(rng())});
    }
    open_error(p);
    for (size_t at : where) patch_file(p, at, {good[at]});
    if (::testing::Test::HasFailure()) FAIL() << "trial " << trial;
  }
}

TEST(Gguf, VocabOnlyFile) {
  YOPO_REQUIRE_ASSET(path, "tokenizer/ggml-vocab-llama-spm.gguf");
  GgufFile f(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_EQ(f.metadata().size(), 22u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("llama.vocab_size"), 32000);
  const std::vector<std::string> tokens = f.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 32000u);
  EXPECT_EQ(tokens[2], "</s>");
  EXPECT_EQ(f.get_float_array("tokenizer.ggml.scores").size(), 32000u);
  EXPECT_EQ(f.get_int_array("tokenizer.ggml.token_type").size(), 32000u);
  EXPECT_TRUE(f.get_bool("tokenizer.ggml.add_bos_token", false));
  EXPECT_FALSE(f.get_bool("tokenizer.ggml.add_eos_token", true));
  EXPECT_EQ(format_gguf_value(*f.find_value("tokenizer.ggml.tokens"), 3),
            "[\"<unk>\", \"<s>\", \"</s>\", ... (32000 items)]");
}

TEST(Gguf, MissingFile) {
  EXPECT_THROW(GgufFile(tmp("does-not-exist.gguf")), Error);
}

// Large tensors go through the parallel path; values are checked against a direct formula.
TEST(Gguf, ConvertLargeTensors) {
  const int64_t blocks = 4099;  // not a multiple of the chunk size
  std::vector<uint8_t> q8;
  for (int64_t k = 0; k < blocks; ++k) {
    q8.push_back(0x00);
    q8.push_back(k % 2 ? 0x3c : 0xbc);  // d = +1 or -1
    for (int v = 0; v < 32; ++v) q8.push_back(uint8_t(int8_t((k + v) % 200 - 100)));
  }
  const int64_t n16 = 70003;
  std::vector<uint16_t> h(static_cast<size_t>(n16));
  std::vector<float> want16(static_cast<size_t>(n16));
  for (int64_t i = 0; i < n16; ++i) {
    const float v = float(i % 2049) - 1024.0f;  // integers below 2048 are exact in half
    h[size_t(i)] = f32_to_f16(v);
    want16[size_t(i)] = v;
  }
  GgufBuilder b;
  b.tensor("q", kQ8_0, {blocks * 32}, q8);
  b.tensor("h", kF16, {n16}, le16s(h));
  GgufFile f(b.write(tmp("large.gguf")));
  std::vector<float> out(size_t(blocks * 32));
  convert_to_f32(f.tensor("q"), out.data());
  for (int64_t k = 0; k < blocks; ++k)
    for (int v = 0; v < 32; ++v)
      ASSERT_EQ(out[size_t(k * 32 + v)], float((k % 2 ? 1 : -1) * ((k + v) % 200 - 100)))
          << k << " " << v;
  std::vector<float> out16(static_cast<size_t>(n16));
  convert_to_f32(f.tensor("h"), out16.data());
  EXPECT_EQ(out16, want16);
}

TEST(Gguf, ConvertChecksSizes) {
  RawTensor t;
  t.name = "w";
  t.dtype = DType::Q8_0;
  t.shape = {33};
  std::vector<uint8_t> buf(68, 0);
  t.data = reinterpret_cast<const std::byte*>(buf.data());
  t.nbytes = 34;
  std::vector<float> out(64);
  EXPECT_THROW(convert_to_f32(t, out.data()), Error);  // 33 values: not whole blocks
  t.shape = {64};
  EXPECT_THROW(convert_to_f32(t, out.data()), Error);  // needs 68 bytes, has 34
  t.nbytes = 68;
  EXPECT_NO_THROW(convert_to_f32(t, out.data()));
}

}  // namespace
}  // namespace yopo
