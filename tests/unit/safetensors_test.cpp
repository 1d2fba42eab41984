// safetensors files are built byte by byte here from the format definition (u64 LE header length,
// JSON header, data buffer), independently of the reader.
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/json_file.h"
#include "support/test_paths.h"

namespace yopo {
namespace {

namespace fs = std::filesystem;

std::string le_u64(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s += char((v >> (8 * i)) & 0xff);
  return s;
}

template <class T>
std::string bytes_of(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // the host is little-endian, as safetensors
    s.append(b, sizeof(T));
  }
  return s;
}

std::string st_bytes(const std::string& header, const std::string& data) {
  return le_u64(header.size()) + header + data;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

template <class T>
T value_at(const RawTensor& t, size_t i) {
  T v;
  std::memcpy(&v, t.data + i * sizeof(T), sizeof(T));
  return v;
}

// Expects opening path to throw yopo::Error whose message holds every one of parts.
void expect_open_error(const std::string& path, const std::vector<std::string>& parts) {
  try {
    SafetensorsFile f(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
  }
}

// A valid file with several dtypes. Tensors are listed in the JSON in another order than their
// offsets. Data layout: a F32[2,3] @0..24, b F16[2] @24..28, c BF16[1] @28..30, d I8[3] @30..33,
// e I16[1] @33..35, f I32[1] @35..39, g I64[] @39..47, h F64[1] @47..55, z F32[0,4] @55..55.
std::string sample_header() {
  return R"({"h":{"dtype":"F64","shape":[1],"data_offsets":[47,55]},)"
         R"("__metadata__":{"format":"pt","note":"hand-made"},)"
         R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
         R"("g":{"dtype":"I64","shape":[],"data_offsets":[39,47]},)"
         R"("b":{"dtype":"F16","shape":[2],"data_offsets":[24,28]},)"
         R"("c":{"dtype":"BF16","shape":[1],"data_offsets":[28,30]},)"
         R"("d":{"dtype":"I8","shape":[3],"data_offsets":[30,33]},)"
         R"("e":{"dtype":"I16","shape":[1],"data_offsets":[33,35]},)"
         R"("z":{"dtype":"F32","shape":[0,4],"data_offsets":[55,55]},)"
         R"("f":{"dtype":"I32","shape":[1],"data_offsets":[35,39]}})";
}

std::string sample_data() {
  return bytes_of<float>({1.5f, -2.f, 3.f, 4.25f, 0.f, -0.5f}) +
         bytes_of<uint16_t>({0x3c00, 0xc000}) +  // F16 1.0, -2.0
         bytes_of<uint16_t>({0x3fc0}) +          // BF16 1.5
         bytes_of<int8_t>({-128, 0, 127}) + bytes_of<int16_t>({-300}) +
         bytes_of<int32_t>({123456789}) + bytes_of<int64_t>({-5000000000LL}) +
         bytes_of<double>({0.1});
}

TEST(Safetensors, ReadsDtypesShapesValuesInOffsetOrder) {
  const std::string path = test::temp_dir() + "/sample.safetensors";
  write_file(path, st_bytes(sample_header(), sample_data()));
  SafetensorsFile f(path);
  EXPECT_EQ(f.path(), path);
  const auto& ts = f.tensors();
  ASSERT_EQ(ts.size(), 9u);
  const char* order[] = {"a", "b", "c", "d", "e", "f", "g", "h", "z"};
  for (size_t i = 0; i < ts.size(); ++i) EXPECT_EQ(ts[i].name, order[i]);

  const RawTensor* a = f.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::F32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->nbytes, 24u);
  EXPECT_EQ(value_at<float>(*a, 0), 1.5f);
  EXPECT_EQ(value_at<float>(*a, 3), 4.25f);
  EXPECT_EQ(value_at<float>(*a, 5), -0.5f);

  const RawTensor* b = f.find("b");
  EXPECT_EQ(b->dtype, DType::F16);
  EXPECT_EQ(f16_to_f32(value_at<uint16_t>(*b, 1)), -2.0f);
  EXPECT_EQ(f.find("c")->dtype, DType::BF16);
  EXPECT_EQ(bf16_to_f32(value_at<uint16_t>(*f.find("c"), 0)), 1.5f);
  EXPECT_EQ(f.find("d")->dtype, DType::I8);
  EXPECT_EQ(value_at<int8_t>(*f.find("d"), 0), -128);
  EXPECT_EQ(value_at<int8_t>(*f.find("d"), 2), 127);
  EXPECT_EQ(f.find("e")->dtype, DType::I16);
  EXPECT_EQ(value_at<int16_t>(*f.find("e"), 0), -300);
  EXPECT_EQ(f.find("f")->dtype, DType::I32);
  EXPECT_EQ(value_at<int32_t>(*f.find("f"), 0), 123456789);
  const RawTensor* g = f.find("g");
  EXPECT_EQ(g->dtype, DType::I64);
  EXPECT_TRUE(g->shape.empty());
  EXPECT_EQ(g->numel(), 1);
  EXPECT_EQ(value_at<int64_t>(*g, 0), -5000000000LL);
  EXPECT_EQ(f.find("h")->dtype, DType::F64);
  EXPECT_EQ(value_at<double>(*f.find("h"), 0), 0.1);
  const RawTensor* z = f.find("z");
  EXPECT_EQ(z->shape, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(z->nbytes, 0u);
  // Consecutive tensors sit back to back in the buffer.
  EXPECT_EQ(b->data, a->data + 24);
  EXPECT_EQ(g->data, a->data + 39);

  EXPECT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("note"), "hand-made");
}

TEST(Safetensors, AcceptsSpacePaddedHeaderAndNoMetadata) {
  const std::string path = test::temp_dir() + "/padded.safetensors";
  const std::string header = R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})";
  write_file(path, st_bytes(header + std::string(7, ' '), bytes_of<float>({7.f, 8.f})));
  SafetensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_TRUE(f.metadata().empty());
  EXPECT_EQ(value_at<float>(f.tensors()[0], 1), 8.f);
}

TEST(Safetensors, EmptyHeaderObjectHasNoTensors) {
  const std::string path = test::temp_dir() + "/empty.safetensors";
  write_file(path, st_bytes("{}", ""));
  EXPECT_TRUE(SafetensorsFile(path).tensors().empty());
}

struct Corruption {
  const char* what;
  std::string bytes;
  std::vector<std::string> message_parts;  // besides the file path
};

std::string one_tensor(const std::string& entry, const std::string& data = std::string(8, '\0')) {
  return st_bytes(R"({"t":)" + entry + "}", data);
}

TEST(Safetensors, CorruptionsThrowErrorsNamingFileAndTensor) {
  const std::string ok_entry = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::vector<Corruption> cases = {
      {"empty file", "", {"8-byte"}},
      {"short file", "abc", {"8-byte"}},
      {"header length past the file", le_u64(1000) + "{}", {"header length 1000"}},
      {"absurd header length", le_u64(uint64_t(1) << 40) + "{}", {"absurd"}},
      {"invalid JSON", st_bytes(R"({"t": {"dtype": )", ""), {"not valid JSON", "parse error"}},
      {"header is an array", st_bytes("[1,2]", ""), {"expected an object"}},
      {"entry not an object", one_tensor("3"), {"tensor 't'", "expected an object"}},
      {"missing dtype",
       one_tensor(R"({"shape":[2],"data_offsets":[0,8]})"),
       {"tensor 't'", "missing \"dtype\""}},
      {"missing shape",
       one_tensor(R"({"dtype":"F32","data_offsets":[0,8]})"),
       {"tensor 't'", "missing \"shape\""}},
      {"missing offsets",
       one_tensor(R"({"dtype":"F32","shape":[2]})"),
       {"tensor 't'", "missing \"data_offsets\""}},
      {"dtype not a string",
       one_tensor(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})"),
       {"tensor 't'", "dtype"}},
      {"unsupported dtype U8",
       one_tensor(R"({"dtype":"U8","shape":[8],"data_offsets":[0,8]})"),
       {"tensor 't'", "'U8'", "not supported"}},
      {"unsupported dtype BOOL",
       one_tensor(R"({"dtype":"BOOL","shape":[8],"data_offsets":[0,8]})"),
       {"tensor 't'", "BOOL"}},
      {"unsupported dtype F8_E4M3",
       one_tensor(R"({"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]})"),
       {"tensor 't'", "F8_E4M3"}},
      {"shape not an array",
       one_tensor(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})"),
       {"tensor 't'", "shape"}},
      {"negative dim",
       one_tensor(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"),
       {"tensor 't'", "non-negative"}},
      {"fractional dim",
       one_tensor(R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,8]})"),
       {"tensor 't'", "non-negative integer"}},
      {"string dim",
       one_tensor(R"({"dtype":"F32","shape":["2"],"data_offsets":[0,8]})"),
       {"tensor 't'", "non-negative integer"}},
      {"absurd shape",
       one_tensor(R"({"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]})"),
       {"tensor 't'", "absurdly large"}},
      {"one offset",
       one_tensor(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})"),
       {"tensor 't'", "[begin, end]"}},
      {"offsets not integers",
       one_tensor(R"({"dtype":"F32","shape":[2],"data_offsets":[0,"8"]})"),
       {"tensor 't'", "non-negative integers"}},
      {"negative offset",
       one_tensor(R"({"dtype":"F32","shape":[2],"data_offsets":[-8,0]})"),
       {"tensor 't'", "non-negative integers"}},
      {"size mismatch",
       one_tensor(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"),
       {"tensor 't'", "needs 12 bytes"}},
      {"end past buffer",
       one_tensor(R"({"dtype":"F32","shape":[3],"data_offsets":[0,12]})"),
       {"tensor 't'", "runs past the data buffer"}},
      {"begin after end",
       one_tensor(R"({"dtype":"F32","shape":[0],"data_offsets":[8,4]})"),
       {"tensor 't'", "is after end"}},
      {"overlap",
       st_bytes(R"({"t":)" + ok_entry + R"(,"u":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                std::string(8, '\0')),
       {"'t'", "'u'", "overlap"}},
      {"duplicate name",
       st_bytes(R"({"t":)" + ok_entry + R"(,"t":)" + ok_entry + "}", std::string(8, '\0')),
       {"'t' twice"}},
      {"metadata not strings", st_bytes(R"({"__metadata__":{"n":3}})", ""), {"'n'", "string"}},
      {"metadata not an object", st_bytes(R"({"__metadata__":[1]})", ""), {"__metadata__"}},
  };
  const std::string dir = test::temp_dir();
  int i = 0;
  for (const Corruption& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string path = dir + "/bad" + std::to_string(i++) + ".safetensors";
    write_file(path, c.bytes);
    std::vector<std::string> parts = c.message_parts;
    parts.push_back(path);
    expect_open_error(path, parts);
  }
}

TEST(Safetensors, EveryTruncationThrows) {
  const std::string full = st_bytes(sample_header(), sample_data());
  const std::string path = test::temp_dir() + "/cut.safetensors";
  for (size_t n = 0; n < full.size(); ++n) {
    write_file(path, full.substr(0, n));
    EXPECT_THROW(SafetensorsFile{path}, Error) << "truncated at " << n;
  }
}

// Every single-byte change either still parses into a consistent file or throws yopo::Error
// (nothing else, no crash).
TEST(Safetensors, ByteFlipsThrowOnlyYopoErrors) {
  const std::string full = st_bytes(sample_header(), sample_data());
  const std::string path = test::temp_dir() + "/flip.safetensors";
  const char subst[] = {'\0', '\xff', '0', '9', '-', '[', ']', '{', '}', '"', ',', ':', 'e'};
  constexpr size_t kSubst = sizeof(subst);
  int opened = 0;
  for (size_t pos = 0; pos < full.size(); ++pos) {
    // A few substitutions per byte, varied along the file.
    for (size_t k : {pos % kSubst, (pos * 5 + 3) % kSubst, (pos * 11 + 7) % kSubst}) {
      const char c = subst[k];
      std::string bytes = full;
      if (bytes[pos] == c) continue;
      bytes[pos] = c;
      write_file(path, bytes);
      try {
        SafetensorsFile f(path);
        ++opened;
        size_t total = 0;
        for (const RawTensor& t : f.tensors()) {
          EXPECT_EQ(int64_t(t.nbytes), dtype_nbytes(t.dtype, t.numel()));
          volatile unsigned sum = 0;  // touches every byte: must stay inside the mapping
          for (size_t k = 0; k < t.nbytes; ++k) sum = sum + std::to_integer<unsigned>(t.data[k]);
          total += t.nbytes;
        }
        EXPECT_LE(total, bytes.size());
      } catch (const Error&) {
      } catch (const std::exception& e) {
        ADD_FAILURE() << "byte " << pos << " -> " << int(c) << ": non-yopo exception " << e.what();
      }
    }
  }
  EXPECT_GT(opened, 0);  // e.g. changed data bytes
}

// Shards of a two-file model: shard 1 holds "embed" (F32[2]) and "layer.0" (F32[1]),
// shard 2 holds "layer.1" (F16[2]) and "head" (I32[1]).
struct ShardedModel {
  std::string dir;
  std::string shard1 = "model-00001-of-00002.safetensors";
  std::string shard2 = "model-00002-of-00002.safetensors";
};

ShardedModel make_sharded(const std::string& index_weight_map) {
  ShardedModel m;
  m.dir = test::temp_dir();
  write_file(m.dir + "/" + m.shard1,
             st_bytes(R"({"embed":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("layer.0":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                      bytes_of<float>({1.f, 2.f, 3.f})));
  write_file(m.dir + "/" + m.shard2,
             st_bytes(R"({"layer.1":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                      R"("head":{"dtype":"I32","shape":[1],"data_offsets":[4,8]}})",
                      bytes_of<uint16_t>({0x3c00, 0x4000}) + bytes_of<int32_t>({42})));
  write_file(m.dir + "/model.safetensors.index.json",
             R"({"metadata":{"total_size":20},"weight_map":)" + index_weight_map + "}");
  return m;
}

const char* kGoodWeightMap =
    R"({"embed":"model-00001-of-00002.safetensors","layer.0":"model-00001-of-00002.safetensors",)"
    R"("layer.1":"model-00002-of-00002.safetensors","head":"model-00002-of-00002.safetensors"})";

TEST(SafetensorsModel, OpensShardsFromDirectoryOrIndex) {
  const ShardedModel m = make_sharded(kGoodWeightMap);
  for (const std::string& path : {m.dir, m.dir + "/model.safetensors.index.json"}) {
    SCOPED_TRACE(path);
    SafetensorsModel model(path);
    ASSERT_EQ(model.shard_paths().size(), 2u);
    EXPECT_EQ(fs::path(model.shard_paths()[0]).filename(), m.shard1);
    EXPECT_EQ(fs::path(model.shard_paths()[1]).filename(), m.shard2);
    const auto& ts = model.tensors();
    ASSERT_EQ(ts.size(), 4u);
    EXPECT_EQ(ts[0].name, "embed");
    EXPECT_EQ(ts[1].name, "layer.0");
    EXPECT_EQ(ts[2].name, "layer.1");
    EXPECT_EQ(ts[3].name, "head");
    EXPECT_EQ(value_at<float>(*model.find("layer.0"), 0), 3.f);
    EXPECT_EQ(model.find("layer.1")->dtype, DType::F16);
    EXPECT_EQ(f16_to_f32(value_at<uint16_t>(*model.find("layer.1"), 1)), 2.f);
    EXPECT_EQ(value_at<int32_t>(*model.find("head"), 0), 42);
  }
}

void expect_model_error(const std::string& path, const std::vector<std::string>& parts) {
  try {
    SafetensorsModel m(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
  }
}

TEST(SafetensorsModel, IndexErrors) {
  // "head" is listed under shard 1, which does not hold it.
  expect_model_error(make_sharded(R"({"embed":"model-00001-of-00002.safetensors",)"
                                  R"("head":"model-00001-of-00002.safetensors",)"
                                  R"("layer.1":"model-00002-of-00002.safetensors"})")
                         .dir,
                     {"'head'", "model-00001-of-00002.safetensors", "no such tensor"});
  expect_model_error(make_sharded(R"({"ghost":"model-00001-of-00002.safetensors"})").dir,
                     {"'ghost'", "no such tensor"});
  expect_model_error(make_sharded(R"({"embed":"model-00003-of-00002.safetensors"})").dir,
                     {"model-00003-of-00002.safetensors", "cannot open"});
  expect_model_error(make_sharded(R"({"embed":7})").dir, {"'embed'", "shard file name"});
  expect_model_error(make_sharded(R"([1])").dir, {"weight_map"});
  expect_model_error(make_sharded(R"({})").dir, {"empty"});
  {
    const ShardedModel m = make_sharded(kGoodWeightMap);
    write_file(m.dir + "/model.safetensors.index.json", R"({"weight_map": {"embed": )");
    expect_model_error(m.dir, {"model.safetensors.index.json", "parse error"});
  }
  {
    // The same tensor name in both shards.
    ShardedModel m = make_sharded(kGoodWeightMap);
    write_file(m.dir + "/" + m.shard2,
               st_bytes(R"({"layer.1":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                        R"("embed":{"dtype":"I32","shape":[1],"data_offsets":[4,8]}})",
                        std::string(8, '\0')));
    expect_model_error(m.dir, {"'embed'", "two shards", m.shard1, m.shard2});
  }
  {
    // A corrupt shard: the error names the index, the shard and the problem.
    ShardedModel m = make_sharded(kGoodWeightMap);
    write_file(m.dir + "/" + m.shard2, le_u64(99));
    expect_model_error(m.dir, {"model.safetensors.index.json", m.shard2, "header length 99"});
  }
}

TEST(SafetensorsModel, ResolvesDirectoriesAndFiles) {
  const std::string one =
      st_bytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", bytes_of<float>({5.f}));
  {
    const std::string dir = test::temp_dir();
    write_file(dir + "/model.safetensors", one);
    write_file(dir + "/other.safetensors", "garbage");  // model.safetensors is preferred
    SafetensorsModel m(dir);
    ASSERT_EQ(m.shard_paths().size(), 1u);
    EXPECT_EQ(fs::path(m.shard_paths()[0]).filename(), "model.safetensors");
    EXPECT_EQ(value_at<float>(m.tensors().at(0), 0), 5.f);
  }
  {
    const std::string dir = test::temp_dir();
    write_file(dir + "/weights.safetensors", one);
    write_file(dir + "/config.json", "{}");
    SafetensorsModel m(dir);
    EXPECT_EQ(fs::path(m.shard_paths().at(0)).filename(), "weights.safetensors");
    SafetensorsModel direct(dir + "/weights.safetensors");
    EXPECT_EQ(direct.tensors().at(0).name, "w");
  }
  {
    const std::string dir = test::temp_dir();
    write_file(dir + "/a.safetensors", one);
    write_file(dir + "/b.safetensors", one);
    expect_model_error(dir, {"several", "a.safetensors", "b.safetensors"});
  }
  expect_model_error(test::temp_dir(), {"no .safetensors file"});
  expect_model_error(test::temp_dir() + "/missing", {"missing", "does not exist"});
}

TEST(JsonFile, ReadsAndReportsErrors) {
  const std::string dir = test::temp_dir();
  write_file(dir + "/ok.json", R"({"a": [1, 2.5, "x"], "b": {"c": true}})");
  const nlohmann::json j = read_json_file(dir + "/ok.json");
  EXPECT_EQ(j["a"][1].get<double>(), 2.5);
  EXPECT_EQ(j["b"]["c"].get<bool>(), true);

  write_file(dir + "/bad.json", "{\"a\": 1,\n \"b\": }");
  try {
    read_json_file(dir + "/bad.json");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bad.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
  }
  EXPECT_THROW(read_json_file(dir + "/absent.json"), Error);
  EXPECT_THROW(read_json_file(dir), Error);
}

}  // namespace
}  // namespace yopo
