#include "vision/image.h"

#include <stb/stb_image.h>

#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

#include "core/error.h"

namespace yopo {
namespace {

enum class Format { kUnknown, kJpeg, kPng, kBmp, kGif };

const char* format_name(Format f) {
  switch (f) {
    case Format::kJpeg:
      return "JPEG";
    case Format::kPng:
      return "PNG";
    case Format::kBmp:
      return "BMP";
    case Format::kGif:
      return "GIF";
    case Format::kUnknown:
      break;
  }
  return "unknown";
}

bool starts_with(const uint8_t* d, size_t n, const char* magic, size_t len) {
  return n >= len && std::memcmp(d, magic, len) == 0;
}

// Only the formats we promise are sniffed: stb_image would also try e.g. TGA, whose loose header
// test lets arbitrary garbage "decode".
Format sniff(const uint8_t* d, size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return Format::kJpeg;
  if (starts_with(d, n, "\x89PNG\r\n\x1a\n", 8)) return Format::kPng;
  if (starts_with(d, n, "BM", 2)) return Format::kBmp;
  if (starts_with(d, n, "GIF87a", 6) || starts_with(d, n, "GIF89a", 6)) return Format::kGif;
  return Format::kUnknown;
}

// stb_image decodes a truncated JPEG without complaint (it pads the scan with zeros), while PIL
// refuses it. Walks the marker segments up to the first start-of-scan, then requires an
// end-of-image marker (FF D9) somewhere after it: inside entropy-coded data FF is always followed
// by 00 or a restart code, so FF D9 there is the real end.
bool jpeg_has_end_marker(const uint8_t* d, size_t n) {
  size_t p = 2;  // past SOI
  for (;;) {
    if (p >= n || d[p] != 0xFF) return false;
    while (p < n && d[p] == 0xFF) ++p;  // fill bytes
    if (p >= n) return false;
    const uint8_t marker = d[p++];
    if (marker == 0xD9) return false;                                    // EOI before any scan
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length field
    if (p + 2 > n) return false;
    const size_t len = size_t{d[p]} << 8 | d[p + 1];
    if (len < 2) return false;
    p += len;
    if (marker == 0xDA) break;  // SOS: entropy-coded data follows its header
  }
  for (; p + 1 < n; ++p) {
    if (d[p] == 0xFF && d[p + 1] == 0xD9) return true;
  }
  return false;
}

uint32_t le16(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8;
}
uint32_t le32(const uint8_t* p) {
  return le16(p) | le16(p + 2) << 16;
}

uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

// Width and height as the PNG, GIF or BMP header states them; false when absent (JPEG, or a
// file too short to hold them).
bool fixed_header_size(Format f, const uint8_t* d, size_t n, int64_t* w, int64_t* h) {
  if (f == Format::kPng && n >= 24 && std::memcmp(d + 12, "IHDR", 4) == 0) {
    *w = be32(d + 16);
    *h = be32(d + 20);
    return true;
  }
  if (f == Format::kGif && n >= 10) {
    *w = le16(d + 6);
    *h = le16(d + 8);
    return true;
  }
  if (f == Format::kBmp && n >= 26) {
    if (le32(d + 14) == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes
      *w = le16(d + 18);
      *h = le16(d + 20);
    } else {  // BITMAPINFOHEADER and later: signed 32-bit, negative height = top-down rows
      *w = int32_t(le32(d + 18));
      *h = int32_t(le32(d + 22));
      if (*h < 0) *h = -*h;
    }
    return true;
  }
  return false;
}

// stb_image also reads zeros past the end of uncompressed BMP pixel data. Returns false when the
// header's pixel array does not fit in the file; compressed (RLE) bitmaps are left to stb.
bool bmp_pixels_fit(const uint8_t* d, size_t n, int w, int h) {
  if (n < 30) return false;
  const uint64_t offset = le32(d + 10);
  const uint32_t header_size = le32(d + 14);
  uint32_t bpp = 0, compression = 0;
  if (header_size == 12) {
    bpp = le16(d + 24);
  } else {
    if (n < 34) return false;
    bpp = le16(d + 28);
    compression = le32(d + 30);
  }
  if (compression != 0 && compression != 3 && compression != 6) return true;  // RLE, JPEG, PNG
  const uint64_t stride = (uint64_t(w) * bpp + 31) / 32 * 4;
  return offset + stride * uint64_t(h) <= n;
}

// Likewise stb_image returns a partly decoded first GIF frame when the file ends inside it. Walks
// the blocks up to the first image's data and requires its sub-block chain to be terminated.
bool gif_first_frame_complete(const uint8_t* d, size_t n) {
  size_t p = 13;  // header + logical screen descriptor
  if (n < p) return false;
  if (d[10] & 0x80) p += size_t{3} << ((d[10] & 7) + 1);  // global colour table
  // Skips a chain of sub-blocks (length byte, data) ending with a zero length.
  auto skip_sub_blocks = [&]() {
    while (p < n && d[p] != 0) p += size_t{d[p]} + 1;
    if (p >= n) return false;
    ++p;
    return true;
  };
  while (p < n) {
    const uint8_t block = d[p++];
    if (block == 0x21) {  // extension: label, then sub-blocks
      if (++p > n || !skip_sub_blocks()) return false;
    } else if (block == 0x2C) {  // image descriptor
      if (p + 9 > n) return false;
      const uint8_t flags = d[p + 8];
      p += 9;
      if (flags & 0x80) p += size_t{3} << ((flags & 7) + 1);  // local colour table
      if (++p > n) return false;                              // LZW minimum code size
      return skip_sub_blocks();
    } else {
      return false;  // trailer or garbage before any image
    }
  }
  return false;
}

struct StbFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};

const char* stb_reason() {
  const char* r = stbi_failure_reason();
  return r ? r : "unknown error";
}

}  // namespace

Image decode_image(const uint8_t* data, size_t size, const std::string& what) {
  check(size > 0, what, ": empty image file");
  check(data != nullptr, what, ": no image data");
  check(size <= size_t(INT_MAX), what, ": image file too large (", size, " bytes)");
  const Format fmt = sniff(data, size);
  check(fmt != Format::kUnknown, what,
        ": unsupported image format (expected JPEG, PNG, BMP or GIF)");
  const char* name = format_name(fmt);
  const int len = int(size);

  // Size first, from the header alone, so a corrupt or hostile header cannot make us allocate.
  // PNG, GIF and BMP keep it at a fixed place, read here so the message can say what is wrong
  // (stbi_info reports only its last attempted format's failure); stbi_info covers JPEG.
  auto check_size = [&](int64_t w, int64_t h) {
    check(w > 0 && h > 0, what, ": ", name, " image has zero size (", w, "x", h, ")");
    check(w <= kMaxImageSide && h <= kMaxImageSide && w * h <= kMaxImagePixels, what, ": ", name,
          " header claims an implausible size ", w, "x", h, " (limit ", kMaxImageSide,
          " per side, ", kMaxImagePixels, " pixels); corrupt file?");
  };
  int64_t hw = 0, hh = 0;
  if (fixed_header_size(fmt, data, size, &hw, &hh)) check_size(hw, hh);
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &comp)) {
    fail(what, ": cannot read the ", name, " header: ", stb_reason());
  }
  check_size(w, h);
  if (fmt == Format::kJpeg && !jpeg_has_end_marker(data, size)) {
    fail(what, ": truncated JPEG data (no end-of-image marker after the scan)");
  }
  if (fmt == Format::kBmp && !bmp_pixels_fit(data, size, w, h)) {
    fail(what, ": truncated BMP data (pixel array extends past the end of the file)");
  }

  if (fmt == Format::kGif && !gif_first_frame_complete(data, size)) {
    fail(what, ": truncated GIF data (the first frame ends past the end of the file)");
  }

  stbi_set_flip_vertically_on_load_thread(0);
  int dw = 0, dh = 0, dcomp = 0;
  std::unique_ptr<unsigned char, StbFree> pixels(
      stbi_load_from_memory(data, len, &dw, &dh, &dcomp, 3));
  if (!pixels) fail(what, ": cannot decode ", name, " data: ", stb_reason());
  check(dw == w && dh == h, what, ": ", name, " decoded to ", dw, "x", dh, " but its header says ",
        w, "x", h);

  Image img;
  img.width = w;
  img.height = h;
  img.rgb.assign(pixels.get(), pixels.get() + size_t(w) * size_t(h) * 3);
  return img;
}

Image load_image(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(bool(in), path, ": cannot open image file");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  check(!in.bad(), path, ": error reading image file");
  return decode_image(bytes.data(), bytes.size(), path);
}

}  // namespace yopo
