// Head masks: the released JSON masks, .npy round trips (bool as written by NumPy, int built
// byte by byte from the .npy format definition) and malformed files.
#include "prune/head_mask.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/npy.h"
#include "support/test_paths.h"

namespace yopo {
namespace {

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

// A version-1.0 .npy file: magic, version, little-endian header length, the dict padded with
// spaces and ended by '\n' so that the data starts at a multiple of 64.
std::string npy_bytes(const std::string& dict, const std::string& data) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string s = "\x93NUMPY";
  s += char(1);
  s += char(0);
  s += char(header.size() & 0xff);
  s += char(header.size() >> 8);
  return s + header + data;
}

struct Released {
  const char* file;
  size_t layers, heads;
};

TEST(PruneHeadMask, ReleasedJsonMasksKeepTheListedHeads) {
  const Released masks[] = {{"headmask_7b_8.json", 32, 32},   {"headmask_7b_16.json", 32, 32},
                            {"headmask_7b_24.json", 32, 32},  {"headmask_13b_5.json", 40, 40},
                            {"headmask_13b_10.json", 40, 40}, {"headmask_13b_20.json", 40, 40},
                            {"headmask_13b_30.json", 40, 40}};
  for (const Released& m : masks) {
    YOPO_REQUIRE_ASSET(path, std::string("yopo-headmasks/") + m.file);
    const HeadMask mask = read_head_mask(path);
    ASSERT_EQ(mask.size(), m.layers) << m.file;
    for (const auto& row : mask) ASSERT_EQ(row.size(), m.heads) << m.file;
    // The counts the file lists, read with a plain JSON parser.
    const auto listed = read_json(path)["kept_per_layer"].get<std::vector<int64_t>>();
    EXPECT_EQ(kept_per_layer(mask), listed) << m.file;
    // The released masks keep every head of layers 0 and 1.
    EXPECT_EQ(listed[0], int64_t(m.heads)) << m.file;
    EXPECT_EQ(listed[1], int64_t(m.heads)) << m.file;
  }
}

TEST(PruneHeadMask, Average7b16IsWhatTheFileSays) {
  YOPO_REQUIRE_ASSET(path, "yopo-headmasks/headmask_7b_16.json");
  // "16" names the calibration target; the file's kept_per_layer sums to
  // 32+32+9+5+10+4+5+15+18+13+15+20+23+24+27+23+27+17+14+18+18+16+15+8+14+10+15+5+7+11+5+24
  // = 499 heads over 32 layers, i.e. 15.59375 on average (not exactly 16).
  EXPECT_DOUBLE_EQ(average_kept_heads(read_head_mask(path)), 499.0 / 32.0);
}

TEST(PruneHeadMask, NpyBoolRoundTrip) {
  const std::string dir = test::temp_dir();
  HeadMask mask = {{1, 0, 1}, {0, 0, 1}, {1, 1, 1}, {0, 0, 0}};
  write_head_mask_npy(dir + "/m.npy", mask);
  // The file is a plain bool array [4, 3].
  const NpyArray a = read_npy(dir + "/m.npy");
  EXPECT_EQ(a.descr, "|b1");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(read_head_mask(dir + "/m.npy"), mask);
}

TEST(PruneHeadMask, ReadsIntegerNpy) {
  const std::string dir = test::temp_dir();
  const std::string data = {1, 0, 0, 1, 1, 1};  // int8 [2, 3]
  write_text(dir + "/i.npy",
             npy_bytes("{'descr': '|i1', 'fortran_order': False, 'shape': (2, 3), }", data));
  EXPECT_EQ(read_head_mask(dir + "/i.npy"), (HeadMask{{1, 0, 0}, {1, 1, 1}}));
}

TEST(PruneHeadMask, JsonRoundTrip) {
  const std::string dir = test::temp_dir();
  const HeadMask mask = {{1, 1}, {0, 1}, {0, 0}};
  write_head_mask_json(dir + "/m.json", mask, "test");
  const nlohmann::json j = read_json(dir + "/m.json");
  EXPECT_EQ(j["layers"], 3);
  EXPECT_EQ(j["heads"], 2);
  EXPECT_EQ(j["kept_per_layer"], nlohmann::json({2, 1, 0}));
  EXPECT_EQ(read_head_mask(dir + "/m.json"), mask);
}

TEST(PruneHeadMask, AcceptsBooleansInJson) {
  const nlohmann::json j = {{"keep", {{true, false}, {false, true}}}};
  EXPECT_EQ(head_mask_from_json(j, "t"), (HeadMask{{1, 0}, {0, 1}}));
}

void expect_error(const std::string& path, const std::string& needle) {
  try {
    read_head_mask(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(PruneHeadMask, MalformedFilesThrow) {
  const std::string dir = test::temp_dir();
  expect_error(dir + "/missing.json", "cannot open");
  write_text(dir + "/a.json", "{\"keep\": [[1, 0], [1]]}");
  expect_error(dir + "/a.json", "layer 1");
  write_text(dir + "/b.json", "{\"keep\": [[1, 2]]}");
  expect_error(dir + "/b.json", "keep[0][1]");
  write_text(dir + "/c.json", "{\"kept\": [[1]]}");
  expect_error(dir + "/c.json", "no 'keep'");
  write_text(dir + "/d.json", "{\"keep\": [[1, 0]], \"kept_per_layer\": [2]}");
  expect_error(dir + "/d.json", "kept_per_layer[0]");
  write_text(dir + "/e.json", "{\"keep\": [[1, 0]], \"layers\": 2}");
  expect_error(dir + "/e.json", "'layers'");
  write_text(dir + "/f.json", "{\"keep\": [[1, 0]], \"heads\": 3}");
  expect_error(dir + "/f.json", "'heads'");
  write_text(dir + "/g.json", "[[1, 0]]");
  expect_error(dir + "/g.json", "JSON object");
  write_text(dir + "/h.json", "{\"keep\": [[1, 0]");
  expect_error(dir + "/h.json", "invalid JSON");
  write_text(dir + "/i.json", "{\"keep\": []}");
  expect_error(dir + "/i.json", "non-empty");
  write_text(dir + "/j.json", "{\"keep\": [[]]}");
  expect_error(dir + "/j.json", "no heads");

  write_text(dir + "/v.npy", npy_bytes("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
                                       std::string{1, 0, 1}));
  expect_error(dir + "/v.npy", "2-D");
  write_text(dir + "/f.npy",
             npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }",
                       std::string(4, '\0')));
  expect_error(dir + "/f.npy", "not bool or integer");
  write_text(
      dir + "/t.npy",
      npy_bytes("{'descr': '|i1', 'fortran_order': False, 'shape': (1, 2), }", std::string{1, 2}));
  expect_error(dir + "/t.npy", "must be 0 or 1");
  write_text(dir + "/z.npy", "\x93NUMPY\x01");
  EXPECT_THROW(read_head_mask(dir + "/z.npy"), Error);
}

TEST(PruneHeadMask, ShapeCheckNamesBothShapes) {
  const HeadMask mask(3, std::vector<uint8_t>(4, 1));
  EXPECT_NO_THROW(check_head_mask_shape(mask, 3, 4, "m"));
  try {
    check_head_mask_shape(mask, 32, 32, "m");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[3 layers, 4 heads]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("32 layers of 32 heads"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace yopo
