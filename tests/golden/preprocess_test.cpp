// Preprocessing against PIL and Hugging Face's CLIPImageProcessor (LLaVA-1.5's image path).
// The expected images and tensors were written by tools/make_preprocess_fixtures.py with
// Pillow 9.4 and transformers 4.36.2 (tests/fixtures/preprocess/manifest.json). The synthetic
// cases always run; the real photos come from ../shared/assets/images and are skipped without it.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "support/test_paths.h"
#include "vision/image.h"
#include "vision/preprocess.h"

namespace yopo {
namespace {

using nlohmann::json;

std::string fixture_path(const std::string& name) {
  return test::fixture("preprocess/" + name);
}

const json& manifest() {
  static const json m = [] {
    std::ifstream f(fixture_path("manifest.json"));
    if (!f) return json::object();
    return json::parse(f);
  }();
  return m;
}

// Pixels are compared per channel value. Within 2/255 is required of everything; exactness is
// required where both sides decode the input identically (PNG inputs).
struct Diff {
  size_t exact = 0, total = 0;
  int max = 0;
};

Diff compare(const Image& got, const Image& want) {
  Diff d;
  EXPECT_EQ(got.width, want.width);
  EXPECT_EQ(got.height, want.height);
  if (got.rgb.size() != want.rgb.size()) {
    ADD_FAILURE() << "image sizes differ";
    return d;
  }
  d.total = got.rgb.size();
  for (size_t i = 0; i < got.rgb.size(); ++i) {
    const int v = std::abs(int(got.rgb[i]) - int(want.rgb[i]));
    d.max = std::max(d.max, v);
    d.exact += v == 0;
  }
  return d;
}

void expect_match(const Image& got, const std::string& expected_file, bool lossy_decoder,
                  const std::string& label) {
  SCOPED_TRACE(label);
  const Diff d = compare(got, load_image(fixture_path(expected_file)));
  std::cout << "[ pil      ] " << label << ": " << d.exact << "/" << d.total
            << " values equal to the reference, max diff " << d.max << "\n";
  EXPECT_LE(d.max, 2);
  if (!lossy_decoder) {
    EXPECT_EQ(d.exact, d.total) << "max diff " << d.max;
  }
}

// The normalised tensor against CLIPImageProcessor's: sampled values and per-channel sums.
void expect_normalized(const std::vector<float>& t, const std::string& json_file) {
  SCOPED_TRACE(json_file);
  std::ifstream f(fixture_path(json_file));
  ASSERT_TRUE(bool(f)) << json_file;
  const json ref = json::parse(f);
  const auto shape = ref.at("shape").get<std::vector<size_t>>();
  ASSERT_EQ(shape.size(), 3u);
  ASSERT_EQ(t.size(), shape[0] * shape[1] * shape[2]);
  const size_t plane = shape[1] * shape[2];
  size_t checked = 0;
  for (const auto& s : ref.at("samples")) {
    const size_t c = s[0], y = s[1], x = s[2];
    const double want = s[3];
    ASSERT_NEAR(t[c * plane + y * shape[2] + x], want, 1e-5)
        << "at c=" << c << " y=" << y << " x=" << x;
    ++checked;
  }
  EXPECT_GE(checked, 300u);
  for (size_t c = 0; c < shape[0]; ++c) {
    double sum = 0, sum_sq = 0;
    for (size_t i = 0; i < plane; ++i) {
      const double v = t[c * plane + i];
      sum += v;
      sum_sq += v * v;
    }
    // 1e-5 per element on average.
    EXPECT_NEAR(sum, ref.at("channel_sum")[c].get<double>(), 1e-5 * double(plane)) << "c=" << c;
    EXPECT_NEAR(sum_sq, ref.at("channel_sum_sq")[c].get<double>(), 1e-5 * double(plane))
        << "c=" << c;
  }
}

PreprocessConfig config(const std::string& mode) {
  PreprocessConfig cfg;
  cfg.mode = mode;
  return cfg;
}

TEST(PreprocessGolden, ManifestIsPresent) {
  ASSERT_TRUE(manifest().contains("resize"))
      << "tests/fixtures/preprocess/manifest.json missing; run tools/make_preprocess_fixtures.py";
  EXPECT_EQ(manifest().at("pad_color").get<std::vector<int>>(), (std::vector<int>{122, 116, 104}));
  const auto bg = pad_color(PreprocessConfig{}.mean);
  EXPECT_EQ((std::vector<int>{bg[0], bg[1], bg[2]}),
            manifest().at("pad_color").get<std::vector<int>>());
}

TEST(PreprocessGolden, SyntheticResizesMatchPil) {
  ASSERT_TRUE(manifest().contains("resize"));
  ASSERT_GE(manifest().at("resize").size(), 8u);
  for (const auto& c : manifest().at("resize")) {
    const std::string input = c.at("input");
    const int w = c.at("width"), h = c.at("height");
    const Image in = load_image(fixture_path(input));
    expect_match(resize_bicubic_pil(in, w, h), c.at("expected"), false,
                 input + " -> " + std::to_string(w) + "x" + std::to_string(h));
  }
}

TEST(PreprocessGolden, SyntheticPipelinesMatchClipProcessor) {
  ASSERT_TRUE(manifest().contains("pipeline"));
  ASSERT_GE(manifest().at("pipeline").size(), 4u);
  for (const auto& c : manifest().at("pipeline")) {
    const std::string input = c.at("input"), mode = c.at("mode");
    const Image in = load_image(fixture_path(input));
    expect_match(preprocess_to_uint8(in, config(mode)), c.at("expected"), false,
                 input + " " + mode);
  }
}

TEST(PreprocessGolden, SyntheticNormalizationMatchesClipProcessor) {
  ASSERT_TRUE(manifest().contains("normalized"));
  ASSERT_GE(manifest().at("normalized").size(), 2u);
  for (const auto& c : manifest().at("normalized")) {
    const Image in = load_image(fixture_path(c.at("input")));
    expect_normalized(preprocess_image(in, config(c.at("mode"))), c.at("expected"));
  }
}

// ---- real photos (../shared/assets/images) ----------------------------------------------------

class PhotoGolden : public testing::TestWithParam<std::string> {};

TEST_P(PhotoGolden, MatchesPilAndClipProcessor) {
  const std::string rel = "images/" + GetParam();
  ASSERT_TRUE(manifest().contains("photos"));
  const json* entry = nullptr;
  for (const auto& p : manifest().at("photos")) {
    if (p.at("asset") == rel) entry = &p;
  }
  ASSERT_NE(entry, nullptr) << rel << " not in the fixture manifest";
  YOPO_REQUIRE_ASSET(path, rel);
  const Image img = load_image(path);
  ASSERT_EQ(img.width, entry->at("width").get<int>()) << path << " is not the photo the fixtures "
                                                      << "were made from";
  ASSERT_EQ(img.height, entry->at("height").get<int>());
  // JPEG: stb_image decodes slightly differently from PIL's libjpeg-turbo (see the unit test),
  // so only the 2/255 bound is required there.
  const bool lossy = entry->at("lossy_decoder");
  expect_match(preprocess_to_uint8(img, config("pad")), entry->at("pad"), lossy,
               GetParam() + " pad");
  if (entry->contains("crop")) {
    expect_match(preprocess_to_uint8(img, config("crop")), entry->at("crop"), lossy,
                 GetParam() + " crop");
  }
  if (entry->contains("pad_norm")) {
    ASSERT_FALSE(lossy);
    expect_normalized(preprocess_image(img, config("pad")), entry->at("pad_norm"));
  }
}

INSTANTIATE_TEST_SUITE_P(Photos, PhotoGolden,
                         testing::Values("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg",
                                         "grace_hopper.jpg"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           for (char& ch : n) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace yopo
