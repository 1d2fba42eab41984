#include "vision/preprocess.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

// PIL (built for baseline x86-64) rounds every double multiply and add separately; fused
// multiply-adds (GCC contracts by default in C++, and -march=x86-64-v3 has FMA) could move a
// rare coefficient by one unit of the fixed point and an output pixel by one level.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace yopo {
namespace {

// Coefficients are normalised to sum to 1 and stored with this many fractional bits; 2 bits of
// headroom cover the filter's negative lobes (the sum of the positive taps exceeds 1).
constexpr int kPrecisionBits = 32 - 8 - 2;

void check_image(const Image& img, const char* fn) {
  check(img.width > 0 && img.height > 0, fn, ": empty image (", img.width, "x", img.height, ")");
  check(img.rgb.size() == size_t(img.width) * size_t(img.height) * 3, fn, ": image buffer holds ",
        img.rgb.size(), " bytes, expected ", size_t(img.width) * size_t(img.height) * 3, " for ",
        img.width, "x", img.height, " RGB");
}

void check_out_size(int w, int h, const char* fn) {
  check(w > 0 && h > 0 && w <= kMaxImageSide && h <= kMaxImageSide &&
            int64_t(w) * h <= kMaxImagePixels,
        fn, ": invalid output size ", w, "x", h);
}

// Keys' cubic convolution kernel with a = -0.5.
double cubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// For each output index: the first input index, the number of taps, and the fixed-point weights.
struct Taps {
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // out_size * stride
  int stride = 0;
};

// The sampling is that of PIL: output pixel i covers input [i*scale, (i+1)*scale) with centre
// (i + 0.5) * scale; the kernel is stretched by the scale when downsampling (antialiasing) and
// truncated at the image border, and each pixel's weights are renormalised to sum to 1. The
// floating-point expressions keep PIL's evaluation order so the rounded weights agree exactly.
Taps make_taps(int in_size, int out_size) {
  const double scale = double(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 2.0 * filter_scale;
  const double inv_filter_scale = 1.0 / filter_scale;
  Taps t;
  t.stride = int(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weights.assign(size_t(out_size) * t.stride, 0);
  std::vector<double> w(t.stride);
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    const int lo = std::max(int(center - support + 0.5), 0);
    const int hi = std::min(int(center + support + 0.5), in_size);
    const int n = std::min(hi - lo, t.stride);
    double sum = 0.0;
    for (int k = 0; k < n; ++k) {
      w[k] = cubic((double(k + lo) - center + 0.5) * inv_filter_scale);
      sum += w[k];
    }
    int32_t* out = &t.weights[size_t(i) * t.stride];
    for (int k = 0; k < n; ++k) {
      const double v = (sum != 0.0 ? w[k] / sum : w[k]) * double(1 << kPrecisionBits);
      out[k] = int32_t(v < 0 ? v - 0.5 : v + 0.5);  // round half away from zero
    }
    t.first[i] = lo;
    t.count[i] = n;
  }
  return t;
}

uint8_t clip_fixed(int32_t acc) {
  return uint8_t(std::clamp(acc >> kPrecisionBits, int32_t{0}, int32_t{255}));
}

constexpr int32_t kHalf = int32_t{1} << (kPrecisionBits - 1);

// Resamples rows [row0, row0 + rows) of `in` horizontally to width taps.first.size().
Image resample_rows(const Image& in, const Taps& taps, int row0, int rows) {
  Image out;
  out.width = int(taps.first.size());
  out.height = rows;
  out.rgb.resize(size_t(out.width) * rows * 3);
  // Rows are independent (and the result does not depend on the thread count).
#pragma omp parallel for schedule(static)
  for (int y = 0; y < rows; ++y) {
    const uint8_t* src = &in.rgb[size_t(row0 + y) * in.width * 3];
    uint8_t* dst = &out.rgb[size_t(y) * out.width * 3];
    for (int x = 0; x < out.width; ++x) {
      const int32_t* k = &taps.weights[size_t(x) * taps.stride];
      const uint8_t* s = src + size_t(taps.first[x]) * 3;
      int32_t r = kHalf, g = kHalf, b = kHalf;
      for (int j = 0; j < taps.count[x]; ++j) {
        r += int32_t(s[j * 3 + 0]) * k[j];
        g += int32_t(s[j * 3 + 1]) * k[j];
        b += int32_t(s[j * 3 + 2]) * k[j];
      }
      dst[x * 3 + 0] = clip_fixed(r);
      dst[x * 3 + 1] = clip_fixed(g);
      dst[x * 3 + 2] = clip_fixed(b);
    }
  }
  return out;
}

// Resamples vertically; input row of output tap j is taps.first[y] - row0 + j.
Image resample_columns(const Image& in, const Taps& taps, int row0) {
  Image out;
  out.width = in.width;
  out.height = int(taps.first.size());
  out.rgb.resize(size_t(out.width) * out.height * 3);
  const size_t row_bytes = size_t(in.width) * 3;
#pragma omp parallel
  {
    std::vector<int32_t> acc(row_bytes);
#pragma omp for schedule(static)
    for (int y = 0; y < out.height; ++y) {
      const int32_t* k = &taps.weights[size_t(y) * taps.stride];
      std::fill(acc.begin(), acc.end(), kHalf);
      for (int j = 0; j < taps.count[y]; ++j) {
        const uint8_t* src = &in.rgb[size_t(taps.first[y] - row0 + j) * row_bytes];
        for (size_t i = 0; i < row_bytes; ++i) acc[i] += int32_t(src[i]) * k[j];
      }
      uint8_t* dst = &out.rgb[size_t(y) * row_bytes];
      for (size_t i = 0; i < row_bytes; ++i) dst[i] = clip_fixed(acc[i]);
    }
  }
  return out;
}

int floor_div2(int v) {
  return v >= 0 ? v / 2 : -((-v + 1) / 2);
}

}  // namespace

Image resize_bicubic_pil(const Image& img, int out_w, int out_h) {
  check_image(img, "resize_bicubic_pil");
  check_out_size(out_w, out_h, "resize_bicubic_pil");
  const bool horizontal = out_w != img.width;
  const bool vertical = out_h != img.height;
  if (!horizontal && !vertical) return img;

  const Taps vtaps = make_taps(img.height, out_h);
  if (!horizontal) return resample_columns(img, vtaps, 0);
  const Taps htaps = make_taps(img.width, out_w);
  if (!vertical) return resample_rows(img, htaps, 0, img.height);
  // Only the rows the vertical pass reads are resampled horizontally (as PIL does).
  const int first_row = vtaps.first.front();
  const int last_row = vtaps.first.back() + vtaps.count.back();
  const Image tmp = resample_rows(img, htaps, first_row, last_row - first_row);
  return resample_columns(tmp, vtaps, first_row);
}

Image expand_to_square(const Image& img, std::array<uint8_t, 3> bg) {
  check_image(img, "expand_to_square");
  if (img.width == img.height) return img;
  const int side = std::max(img.width, img.height);
  Image out;
  out.width = out.height = side;
  out.rgb.resize(size_t(side) * side * 3);
  for (size_t i = 0; i < out.rgb.size(); i += 3) {
    out.rgb[i] = bg[0];
    out.rgb[i + 1] = bg[1];
    out.rgb[i + 2] = bg[2];
  }
  const int x0 = (side - img.width) / 2, y0 = (side - img.height) / 2;
  const size_t row_bytes = size_t(img.width) * 3;
  for (int y = 0; y < img.height; ++y) {
    std::copy_n(&img.rgb[size_t(y) * row_bytes], row_bytes,
                &out.rgb[(size_t(y0 + y) * side + x0) * 3]);
  }
  return out;
}

Image center_crop(const Image& img, int w, int h) {
  check_image(img, "center_crop");
  check_out_size(w, h, "center_crop");
  const int top = floor_div2(img.height - h), left = floor_div2(img.width - w);
  Image out;
  out.width = w;
  out.height = h;
  out.rgb.assign(size_t(w) * h * 3, 0);
  // Columns [x_lo, x_hi) of the output come from the image; the rest stay zero.
  const int x_lo = std::max(0, -left), x_hi = std::min(w, img.width - left);
  for (int y = 0; y < h; ++y) {
    const int sy = top + y;
    if (sy < 0 || sy >= img.height || x_lo >= x_hi) continue;
    std::copy_n(&img.rgb[(size_t(sy) * img.width + (left + x_lo)) * 3], size_t(x_hi - x_lo) * 3,
                &out.rgb[(size_t(y) * w + x_lo) * 3]);
  }
  return out;
}

std::array<int, 2> shortest_edge_size(int width, int height, int size) {
  check(width > 0 && height > 0 && size > 0, "shortest_edge_size: invalid sizes ", width, "x",
        height, " -> ", size);
  const int shorter = std::min(width, height), longer = std::max(width, height);
  const double long_exact = double(int64_t(size) * longer) / double(shorter);
  check(long_exact <= double(kMaxImageSide), "shortest_edge_size: resizing ", width, "x", height,
        " to a shortest edge of ", size, " gives an implausible long edge ", long_exact);
  const int new_long = int(long_exact);  // Python int(): truncation
  return width <= height ? std::array<int, 2>{size, new_long} : std::array<int, 2>{new_long, size};
}

std::array<uint8_t, 3> pad_color(const std::array<float, 3>& mean) {
  std::array<uint8_t, 3> bg{};
  for (int c = 0; c < 3; ++c) {
    bg[c] = uint8_t(std::clamp(int(double(mean[c]) * 255.0), 0, 255));
  }
  return bg;
}

Image preprocess_to_uint8(const Image& img, const PreprocessConfig& cfg) {
  check_image(img, "preprocess_image");
  check(cfg.mode == "pad" || cfg.mode == "crop", "preprocess_image: unknown mode '", cfg.mode,
        "' (expected \"pad\" or \"crop\")");
  check(cfg.size > 0 && cfg.size <= kMaxImageSide, "preprocess_image: invalid size ", cfg.size);
  check(cfg.crop > 0 && cfg.crop <= kMaxImageSide, "preprocess_image: invalid crop ", cfg.crop);
  const Image squared = cfg.mode == "pad" ? expand_to_square(img, pad_color(cfg.mean)) : Image{};
  const Image& src = cfg.mode == "pad" ? squared : img;
  const auto [w, h] = shortest_edge_size(src.width, src.height, cfg.size);
  return center_crop(resize_bicubic_pil(src, w, h), cfg.crop, cfg.crop);
}

std::vector<float> preprocess_image(const Image& img, const PreprocessConfig& cfg) {
  for (int c = 0; c < 3; ++c) {
    check(std::isfinite(cfg.mean[c]) && std::isfinite(cfg.std[c]) && cfg.std[c] != 0.0f,
          "preprocess_image: invalid mean/std for channel ", c);
  }
  const Image px = preprocess_to_uint8(img, cfg);
  const size_t plane = size_t(px.width) * px.height;
  std::vector<float> out(3 * plane);
  // As transformers does: uint8 * (1/255) in double, rounded to float32, then float32
  // (x - mean) / std.
  const double rescale = 1.0 / 255.0;
  for (int c = 0; c < 3; ++c) {
    float* dst = &out[size_t(c) * plane];
    for (size_t i = 0; i < plane; ++i) {
      const float x = float(double(px.rgb[i * 3 + c]) * rescale);
      dst[i] = (x - cfg.mean[c]) / cfg.std[c];
    }
  }
  return out;
}

}  // namespace yopo
