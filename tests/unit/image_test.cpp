// Image decoding (stb_image behind yopo::decode_image) and the small preprocessing steps.
// Expected values come from hand-built files worked out from the PNG/BMP/GIF specifications,
// from PIL (tests/fixtures/preprocess, tools/make_preprocess_fixtures.py) and from the
// definitions of LLaVA's expand2square and Hugging Face's center_crop / resize sizes.
#include "vision/image.h"
#include "vision/preprocess.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "support/test_paths.h"

namespace yopo {
namespace {

using Bytes = std::vector<uint8_t>;

std::string fixture_path(const std::string& name) {
  return test::fixture("preprocess/" + name);
}

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(bool(in)) << "cannot open " << path;
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The message of the yopo::Error that fn throws ("" and a test failure when it throws none).
template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected yopo::Error";
  return "";
}

std::string decode_error(const Bytes& b, const std::string& what = "test-image") {
  return error_of([&] { decode_image(b.data(), b.size(), what); });
}

// ---- hand-built files -------------------------------------------------------------------------

void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}
void put_le16(Bytes& b, uint32_t v) {
  b.push_back(uint8_t(v));
  b.push_back(uint8_t(v >> 8));
}
void put_le32(Bytes& b, uint32_t v) {
  put_le16(b, v & 0xFFFF);
  put_le16(b, v >> 16);
}

uint32_t crc32(const uint8_t* p, size_t n) {  // PNG's CRC (ISO 3309), bitwise
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

void png_chunk(Bytes& b, const char* type, const Bytes& data) {
  put_be32(b, uint32_t(data.size()));
  const size_t start = b.size();
  b.insert(b.end(), type, type + 4);
  b.insert(b.end(), data.begin(), data.end());
  put_be32(b, crc32(&b[start], b.size() - start));
}

Bytes png_ihdr(uint32_t w, uint32_t h, uint8_t color_type) {
  Bytes ihdr;
  put_be32(ihdr, w);
  put_be32(ihdr, h);
  ihdr.insert(ihdr.end(), {8, color_type, 0, 0, 0});  // depth 8, deflate, filter 0, no interlace
  Bytes b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  png_chunk(b, "IHDR", ihdr);
  return b;
}

// A complete PNG whose scanlines (each with its filter byte) are stored in one uncompressed
// ("stored") deflate block inside the zlib stream.
Bytes png_file(uint32_t w, uint32_t h, uint8_t color_type, const Bytes& scanlines) {
  Bytes b = png_ihdr(w, h, color_type);
  Bytes z = {0x78, 0x01, 0x01};  // zlib header; final stored block
  put_le16(z, uint32_t(scanlines.size()));
  put_le16(z, uint32_t(~scanlines.size() & 0xFFFF));
  z.insert(z.end(), scanlines.begin(), scanlines.end());
  uint32_t s1 = 1, s2 = 0;  // Adler-32
  for (uint8_t v : scanlines) {
    s1 = (s1 + v) % 65521;
    s2 = (s2 + s1) % 65521;
  }
  put_be32(z, s2 << 16 | s1);
  png_chunk(b, "IDAT", z);
  png_chunk(b, "IEND", {});
  return b;
}

// A 24-bit BMP: BITMAPFILEHEADER + BITMAPINFOHEADER, rows bottom-up, BGR, padded to 4 bytes.
// `rows_top_down` holds RGB triples.
Bytes bmp_file(int32_t w, int32_t h, const Bytes& rows_top_down) {
  const uint32_t stride = (uint32_t(w) * 3 + 3) / 4 * 4;
  Bytes b = {'B', 'M'};
  put_le32(b, 54 + stride * uint32_t(h));
  put_le32(b, 0);
  put_le32(b, 54);  // pixel data offset
  put_le32(b, 40);  // info header size
  put_le32(b, uint32_t(w));
  put_le32(b, uint32_t(h));
  put_le16(b, 1);   // planes
  put_le16(b, 24);  // bits per pixel
  put_le32(b, 0);   // BI_RGB
  put_le32(b, stride * uint32_t(h));
  put_le32(b, 2835);
  put_le32(b, 2835);
  put_le32(b, 0);
  put_le32(b, 0);
  for (int32_t y = h - 1; y >= 0; --y) {
    for (int32_t x = 0; x < w; ++x) {
      const uint8_t* p = &rows_top_down[(size_t(y) * w + x) * 3];
      b.insert(b.end(), {p[2], p[1], p[0]});
    }
    b.resize(b.size() + stride - uint32_t(w) * 3, 0);
  }
  return b;
}

Bytes gif_header(uint16_t w, uint16_t h) {
  Bytes b = {'G', 'I', 'F', '8', '9', 'a'};
  put_le16(b, w);
  put_le16(b, h);
  b.insert(b.end(), {0, 0, 0});  // no global colour table
  return b;
}

// ---- decoding ---------------------------------------------------------------------------------

TEST(ImageDecode, HandBuiltPngGreyAlphaDropsAlpha) {
  // 2x2 grey+alpha (colour type 4): PIL's convert("RGB") replicates grey and ignores alpha.
  const Bytes lines = {0, 10, 255, 200, 0,  // row 0: (10, opaque), (200, fully transparent)
                       0, 0,  128, 255, 7};
  const Bytes png = png_file(2, 2, 4, lines);
  const Image got = decode_image(png.data(), png.size(), "grey-alpha.png");
  ASSERT_EQ(got.width, 2);
  ASSERT_EQ(got.height, 2);
  const Bytes want = {10, 10, 10, 200, 200, 200, 0, 0, 0, 255, 255, 255};
  EXPECT_EQ(got.rgb, want);
}

TEST(ImageDecode, HandBuiltPngRgba) {
  const Bytes lines = {0, 1, 2, 3, 0, 250, 251, 252, 9};  // 2x1 RGBA, filter None
  const Bytes png = png_file(2, 1, 6, lines);
  const Image got = decode_image(png.data(), png.size(), "rgba.png");
  ASSERT_EQ(got.width, 2);
  ASSERT_EQ(got.height, 1);
  EXPECT_EQ(got.rgb, (Bytes{1, 2, 3, 250, 251, 252}));
}

TEST(ImageDecode, HandBuiltBmpBottomUpBgrPadded) {
  // 3x2: stride 9 bytes padded to 12; rows are stored bottom-up in BGR order.
  const Bytes rgb = {255, 0, 0, 0,  255, 0,  0, 0, 255,  // top row: red, green, blue
                     1,   2, 3, 40, 50,  60, 7, 8, 9};
  const Bytes bmp = bmp_file(3, 2, rgb);
  const Image got = decode_image(bmp.data(), bmp.size(), "hand.bmp");
  ASSERT_EQ(got.width, 3);
  ASSERT_EQ(got.height, 2);
  EXPECT_EQ(got.rgb, rgb);
}

TEST(ImageDecode, LoadImageReadsFile) {
  const Image got = load_image(fixture_path("decode_rgb.png"));
  EXPECT_EQ(got.width, 23);
  EXPECT_EQ(got.height, 17);
  EXPECT_EQ(got.rgb.size(), size_t(23 * 17 * 3));
}

// Every small file of tests/fixtures/preprocess/decode_* against PIL's
// Image.open(f).convert("RGB"): exact for PNG/BMP/GIF; JPEG goes through a different decoder
// (stb_image vs libjpeg-turbo), which may differ by a few levels.
TEST(ImageDecode, MatchesPilConvertRgb) {
  std::ifstream f(fixture_path("manifest.json"));
  ASSERT_TRUE(bool(f)) << "missing fixture manifest; run tools/make_preprocess_fixtures.py";
  const auto manifest = nlohmann::json::parse(f);
  ASSERT_GE(manifest.at("decode").size(), 10u);
  for (const auto& c : manifest.at("decode")) {
    const std::string file = c.at("file");
    SCOPED_TRACE(file);
    const Image got = load_image(fixture_path(file));
    const Image want = load_image(fixture_path(c.at("expected")));
    ASSERT_EQ(got.width, want.width);
    ASSERT_EQ(got.height, want.height);
    int max_diff = 0;
    size_t exact = 0;
    for (size_t i = 0; i < got.rgb.size(); ++i) {
      const int d = std::abs(int(got.rgb[i]) - int(want.rgb[i]));
      max_diff = std::max(max_diff, d);
      exact += d == 0;
    }
    if (c.at("lossy_decoder").get<bool>()) {
      EXPECT_LE(max_diff, 3);
      std::cout << "[ decode   ] " << file << ": " << exact << "/" << got.rgb.size()
                << " values equal to PIL's, max diff " << max_diff << "\n";
    } else {
      EXPECT_EQ(max_diff, 0);
    }
  }
}

TEST(ImageDecode, EmptyAndGarbageAreErrors) {
  EXPECT_NE(decode_error({}).find("empty"), std::string::npos);
  std::mt19937 rng(42);
  Bytes garbage(4096);
  for (auto& v : garbage) v = uint8_t(rng());
  garbage[0] = 'X';  // not a known signature
  EXPECT_NE(decode_error(garbage).find("unsupported image format"), std::string::npos);
  // Known signatures followed by garbage.
  for (const Bytes& magic :
       {Bytes{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}, Bytes{0xFF, 0xD8, 0xFF},
        Bytes{'B', 'M'}, Bytes{'G', 'I', 'F', '8', '9', 'a'}}) {
    Bytes b = garbage;
    std::copy(magic.begin(), magic.end(), b.begin());
    const std::string msg = decode_error(b, "junk.bin");
    EXPECT_NE(msg.find("junk.bin"), std::string::npos) << msg;
  }
}

TEST(ImageDecode, TruncatedFilesAreErrors) {
  for (const char* name : {"synth_337x211.png", "decode_rgb.png", "decode_baseline.jpg",
                           "decode_progressive.jpg", "decode_rgb24.bmp", "decode_two_frames.gif"}) {
    const Bytes full = read_file(fixture_path(name));
    ASSERT_GT(full.size(), 100u);
    // GIF: the file holds two frames; cut inside the first (which ends before byte 996).
    const bool gif = std::string(name).ends_with(".gif");
    for (size_t keep : {full.size() / 4, full.size() / 2, full.size() - 40}) {
      if (gif) keep = std::min<size_t>(keep, 900);
      SCOPED_TRACE(std::string(name) + " cut to " + std::to_string(keep));
      const Bytes cut(full.begin(), full.begin() + keep);
      const std::string msg = decode_error(cut, name);
      EXPECT_NE(msg.find(name), std::string::npos) << msg;
    }
  }
}

TEST(ImageDecode, TruncatedJpegMessageSaysSo) {
  const Bytes full = read_file(fixture_path("decode_baseline.jpg"));
  const Bytes cut(full.begin(), full.begin() + full.size() * 2 / 3);
  EXPECT_NE(decode_error(cut).find("truncated JPEG"), std::string::npos);
  // The end-of-image marker alone is enough: the intact file decodes.
  EXPECT_NO_THROW(decode_image(full.data(), full.size(), "ok.jpg"));
}

TEST(ImageDecode, ErrorsNameThePath) {
  const std::string dir = test::temp_dir();
  const std::string missing = dir + "/no-such-image.png";
  EXPECT_NE(error_of([&] { load_image(missing); }).find(missing), std::string::npos);

  const Bytes full = read_file(fixture_path("decode_rgb.png"));
  const std::string path = dir + "/truncated.png";
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(full.data()), std::streamsize(full.size() / 2));
  }
  const std::string msg = error_of([&] { load_image(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  std::filesystem::remove_all(dir);
}

// Randomly damaged files (bytes overwritten, mostly in the headers, and cut short) must either
// decode to a consistent image or throw yopo::Error: never crash or read out of bounds (run
// under ASan to see the latter).
TEST(ImageDecode, DamagedFilesDecodeOrThrow) {
  std::mt19937 rng(2024);
  int decoded = 0, rejected = 0;
  for (const char* name : {"decode_rgb.png", "decode_palette_trns.png", "decode_baseline.jpg",
                           "decode_progressive.jpg", "decode_rgb24.bmp", "decode_palette8.bmp",
                           "decode_two_frames.gif"}) {
    const Bytes base = read_file(fixture_path(name));
    ASSERT_FALSE(base.empty());
    for (int it = 0; it < 100; ++it) {
      Bytes b = base;
      for (int k = 1 + int(rng() % 6); k > 0; --k) {
        const size_t span = rng() % 2 ? std::min<size_t>(b.size(), 64) : b.size();
        b[rng() % span] = uint8_t(rng());
      }
      if (rng() % 3 == 0) b.resize(1 + rng() % b.size());
      try {
        const Image img = decode_image(b.data(), b.size(), name);
        ASSERT_EQ(img.rgb.size(), size_t(img.width) * size_t(img.height) * 3);
        ++decoded;
      } catch (const Error&) {
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(decoded, 0);
}

TEST(ImageDecode, ZeroSizeHeadersAreErrors) {
  // PNG IHDR with width 0 (stb_image's header parser already refuses it).
  const Bytes png = png_file(0, 1, 2, {0});
  EXPECT_FALSE(decode_error(png, "zero.png").empty());
  // BMP with height 0 and GIF with a 0x0 screen: caught by our size check at the latest.
  const Bytes bmp = bmp_file(4, 0, {});
  EXPECT_FALSE(decode_error(bmp, "zero.bmp").empty());
  Bytes gif = gif_header(0, 0);
  gif.insert(gif.end(), {0x2C, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 0x4C, 0x01, 0, 0x3B});
  EXPECT_FALSE(decode_error(gif, "zero.gif").empty());
}

TEST(ImageDecode, AbsurdSizesAreRejectedFromTheHeader) {
  // Only headers: there is no pixel data at all, so reaching the decoder would also fail, but
  // the message must come from the size check that runs before anything is allocated.
  const Bytes huge_png = png_ihdr(100000, 100000, 2);
  const std::string m1 = decode_error(huge_png, "huge.png");
  EXPECT_NE(m1.find("implausible size 100000x100000"), std::string::npos) << m1;

  Bytes huge_bmp = bmp_file(1, 1, {0, 0, 0});
  for (int i = 0; i < 4; ++i) huge_bmp[18 + i] = huge_bmp[22 + i] = Bytes{0xA0, 0x86, 0x01, 0}[i];
  const std::string m2 = decode_error(huge_bmp, "huge.bmp");  // 100000 x 100000
  EXPECT_NE(m2.find("implausible size 100000x100000"), std::string::npos) << m2;

  const std::string m3 = decode_error(gif_header(20000, 2), "wide.gif");
  EXPECT_NE(m3.find("implausible size 20000x2"), std::string::npos) << m3;

  const std::string m4 = decode_error(png_ihdr(16385, 1, 2), "wide.png");
  EXPECT_NE(m4.find("implausible size 16385x1"), std::string::npos) << m4;
}

// ---- preprocessing building blocks ------------------------------------------------------------

Image make_image(int w, int h, const Bytes& rgb) {
  Image img;
  img.width = w;
  img.height = h;
  img.rgb = rgb;
  return img;
}

Image gradient(int w, int h) {
  Image img = make_image(w, h, Bytes(size_t(w) * h * 3));
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = uint8_t(i * 7 % 251);
  return img;
}

TEST(Preprocess, PadColorIsIntOfMeanTimes255) {
  // LLaVA: tuple(int(x * 255) for x in image_mean) = (122, 116, 104) for CLIP's mean.
  EXPECT_EQ(pad_color(PreprocessConfig{}.mean), (std::array<uint8_t, 3>{122, 116, 104}));
}

TEST(Preprocess, ExpandToSquareCentresLikeLlava) {
  const std::array<uint8_t, 3> bg{9, 8, 7};
  // 3 wide, 1 high: pasted at (0, (3-1)//2 = 1).
  const Image wide = make_image(3, 1, {1, 1, 1, 2, 2, 2, 3, 3, 3});
  const Image sq = expand_to_square(wide, bg);
  ASSERT_EQ(sq.width, 3);
  ASSERT_EQ(sq.height, 3);
  EXPECT_EQ(sq.rgb, (Bytes{9, 8, 7, 9, 8, 7, 9, 8, 7,  //
                           1, 1, 1, 2, 2, 2, 3, 3, 3,  //
                           9, 8, 7, 9, 8, 7, 9, 8, 7}));
  // 1 wide, 2 high: pasted at ((2-1)//2 = 0, 0): the background column is on the right.
  const Image tall = make_image(1, 2, {1, 2, 3, 4, 5, 6});
  const Image sq2 = expand_to_square(tall, bg);
  ASSERT_EQ(sq2.width, 2);
  EXPECT_EQ(sq2.rgb, (Bytes{1, 2, 3, 9, 8, 7, 4, 5, 6, 9, 8, 7}));
  // Square images are returned unchanged.
  const Image square = gradient(4, 4);
  EXPECT_EQ(expand_to_square(square, bg).rgb, square.rgb);
}

TEST(Preprocess, CenterCropOffsetsLikeHuggingFace) {
  const Image img = gradient(5, 4);
  auto px = [&](const Image& im, int x, int y, int c) {
    return im.rgb[(size_t(y) * im.width + x) * 3 + c];
  };
  // top = (4-2)//2 = 1, left = (5-2)//2 = 1 (odd difference rounds down).
  const Image c = center_crop(img, 2, 2);
  ASSERT_EQ(c.width, 2);
  ASSERT_EQ(c.height, 2);
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 2; ++x) {
      for (int ch = 0; ch < 3; ++ch) EXPECT_EQ(px(c, x, y, ch), px(img, x + 1, y + 1, ch));
    }
  }
  // Larger than the image: zero padding around it; (6-4)//2 = 1 row above, (7-5)//2 = 1 column
  // to the left.
  const Image p = center_crop(img, 7, 6);
  for (int y = 0; y < 6; ++y) {
    for (int x = 0; x < 7; ++x) {
      const bool inside = y >= 1 && y < 5 && x >= 1 && x < 6;
      for (int ch = 0; ch < 3; ++ch) {
        EXPECT_EQ(px(p, x, y, ch), inside ? px(img, x - 1, y - 1, ch) : 0) << x << "," << y;
      }
    }
  }
  EXPECT_EQ(center_crop(img, 5, 4).rgb, img.rgb);
}

TEST(Preprocess, ShortestEdgeSizeTruncatesLikeTransformers) {
  // int(336 * long / short), as get_resize_output_image_size(default_to_square=False).
  EXPECT_EQ(shortest_edge_size(451, 300, 336), (std::array<int, 2>{505, 336}));  // 505.12
  EXPECT_EQ(shortest_edge_size(300, 451, 336), (std::array<int, 2>{336, 505}));
  EXPECT_EQ(shortest_edge_size(600, 400, 336), (std::array<int, 2>{504, 336}));  // exactly 504
  EXPECT_EQ(shortest_edge_size(337, 211, 336), (std::array<int, 2>{536, 336}));  // 536.64
  EXPECT_EQ(shortest_edge_size(50, 400, 336), (std::array<int, 2>{336, 2688}));
  EXPECT_EQ(shortest_edge_size(512, 512, 336), (std::array<int, 2>{336, 336}));
  EXPECT_EQ(shortest_edge_size(3, 2, 336), (std::array<int, 2>{504, 336}));
}

TEST(Preprocess, BicubicHandWorkedUpscale) {
  // 2 -> 4 pixels, values 0 and 255. Scale 0.5, support 2, centres 0.25, 0.75, 1.25, 1.75.
  // Output 1: taps at distances 0.25 and 0.75 -> kernel 0.8671875 and 0.2265625, normalised
  // 0.79286 / 0.20714 -> 255 * 0.20714 = 52.8 -> 53 in PIL's fixed point. Output 0: distances
  // 0.25 and 1.25 -> 0.8671875 and -0.0703125 -> 255 * -0.0882 < 0 -> clipped to 0. The others
  // by symmetry. (PIL 9.4 gives [0, 53, 202, 255].)
  const Image in = make_image(2, 1, {0, 0, 0, 255, 255, 255});
  const Image out = resize_bicubic_pil(in, 4, 1);
  ASSERT_EQ(out.width, 4);
  ASSERT_EQ(out.height, 1);
  EXPECT_EQ(out.rgb, (Bytes{0, 0, 0, 53, 53, 53, 202, 202, 202, 255, 255, 255}));
  // The same along the other axis (vertical pass only).
  const Image col = resize_bicubic_pil(make_image(1, 2, {0, 0, 0, 255, 255, 255}), 1, 4);
  EXPECT_EQ(col.rgb, out.rgb);
}

TEST(Preprocess, BicubicKeepsConstantImagesAndSameSize) {
  for (uint8_t v : {0, 1, 128, 254, 255}) {
    const Image flat = make_image(37, 23, Bytes(37 * 23 * 3, v));
    for (auto [w, h] : {std::pair{5, 3}, {100, 9}, {37, 80}, {336, 336}}) {
      const Image out = resize_bicubic_pil(flat, w, h);
      ASSERT_EQ(out.rgb.size(), size_t(w) * h * 3);
      EXPECT_EQ(out.rgb, Bytes(out.rgb.size(), v)) << int(v) << " -> " << w << "x" << h;
    }
  }
  const Image g = gradient(9, 7);
  EXPECT_EQ(resize_bicubic_pil(g, 9, 7).rgb, g.rgb);
}

TEST(Preprocess, NormalizationOfAFlatImage) {
  // Crop mode keeps a flat image flat, so every output is (v/255 - mean) / std of its channel,
  // in CHW order.
  Bytes px;
  for (int i = 0; i < 24; ++i) px.insert(px.end(), {0, 128, 255});
  const Image flat = make_image(4, 6, px);
  PreprocessConfig cfg;
  cfg.mode = "crop";
  cfg.size = cfg.crop = 8;
  const std::vector<float> t = preprocess_image(flat, cfg);
  ASSERT_EQ(t.size(), size_t(3 * 8 * 8));
  const double v[3] = {0, 128, 255};
  const double mean[3] = {0.48145466, 0.4578275, 0.40821073};
  const double sd[3] = {0.26862954, 0.26130258, 0.27577711};
  for (int c = 0; c < 3; ++c) {
    const double want = (v[c] / 255 - mean[c]) / sd[c];
    for (int i = 0; i < 64; ++i) ASSERT_NEAR(t[size_t(c) * 64 + i], want, 1e-6) << c << " " << i;
  }
}

TEST(Preprocess, PadModeFillsWithTheMeanColour) {
  // A 2x8 black image padded to 8x8 (3 background columns each side), no resize or crop: the
  // background columns normalise to (int(mean*255)/255 - mean) / std, the image to -mean/std.
  const Image black = make_image(2, 8, Bytes(2 * 8 * 3, 0));
  PreprocessConfig cfg;
  cfg.size = cfg.crop = 8;
  const std::vector<float> t = preprocess_image(black, cfg);
  ASSERT_EQ(t.size(), size_t(3 * 64));
  const double bg[3] = {122, 116, 104};
  for (int c = 0; c < 3; ++c) {
    const double m = cfg.mean[c], s = cfg.std[c];
    for (int y = 0; y < 8; ++y) {
      for (int x = 0; x < 8; ++x) {
        const double want = (x == 3 || x == 4) ? -m / s : (bg[c] / 255 - m) / s;
        ASSERT_NEAR(t[size_t(c) * 64 + y * 8 + x], want, 1e-6) << c << " " << x << "," << y;
      }
    }
  }
}

TEST(Preprocess, BadInputsAreErrors) {
  const Image img = gradient(5, 5);
  PreprocessConfig cfg;
  cfg.mode = "squash";
  EXPECT_NE(error_of([&] { preprocess_image(img, cfg); }).find("squash"), std::string::npos);
  cfg = PreprocessConfig{};
  cfg.size = 0;
  EXPECT_FALSE(error_of([&] { preprocess_image(img, cfg); }).empty());
  cfg = PreprocessConfig{};
  cfg.crop = -3;
  EXPECT_FALSE(error_of([&] { preprocess_image(img, cfg); }).empty());
  cfg = PreprocessConfig{};
  cfg.std[1] = 0.0f;
  EXPECT_FALSE(error_of([&] { preprocess_image(img, cfg); }).empty());
  EXPECT_FALSE(error_of([&] { preprocess_image(Image{}, PreprocessConfig{}); }).empty());
  Image broken = img;
  broken.rgb.pop_back();
  EXPECT_FALSE(error_of([&] { preprocess_image(broken, PreprocessConfig{}); }).empty());
  EXPECT_FALSE(error_of([&] { resize_bicubic_pil(img, 0, 5); }).empty());
  EXPECT_FALSE(error_of([&] { resize_bicubic_pil(img, 5, 100000); }).empty());
  EXPECT_FALSE(error_of([&] { center_crop(img, -1, 5); }).empty());
}

}  // namespace
}  // namespace yopo
