// Decoded 8-bit RGB images and how to load them (JPEG, PNG, BMP, GIF first frame).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace yopo {

// Interleaved RGB, row-major, 3 bytes per pixel, no row padding: rgb.size() == width*height*3.
struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

// Largest accepted side and pixel count: a header claiming more is treated as corrupt and
// rejected before any pixel memory is allocated.
inline constexpr int kMaxImageSide = 16384;
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 28;

// Reads and decodes an image file. Always returns 3-channel RGB: grey is replicated and alpha
// dropped (not composited), as PIL's Image.convert("RGB") does. Throws yopo::Error naming the
// path when the file cannot be read, its format is unsupported, its header claims an empty or
// absurd size, or its data is truncated or corrupt.
Image load_image(const std::string& path);

// Same, for an image already in memory; `what` names it in error messages (e.g. its path).
Image decode_image(const uint8_t* data, size_t size, const std::string& what);

}  // namespace yopo
