// CLIP / LLaVA image preprocessing that reproduces PIL + Hugging Face CLIPImageProcessor.
//
// mode "pad" (LLaVA-1.5, image_aspect_ratio: pad): paste the image centred on a square canvas of
// side max(w, h) filled with int(mean * 255) per channel (LLaVA's expand2square), then the CLIP
// steps below. mode "crop" (CLIPImageProcessor alone): the CLIP steps only.
// CLIP steps: resize the shortest edge to `size` (the other edge int(size * long / short)) with
// PIL's BICUBIC filter, center crop crop x crop, scale by 1/255, subtract mean, divide by std.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "vision/image.h"

namespace yopo {

struct PreprocessConfig {
  std::string mode = "pad";  // "pad" or "crop"
  int size = 336;            // shortest edge after resizing
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
  int crop = 336;  // side of the square center crop
};

// The whole pipeline: float32 CHW [3, crop, crop], channel-major (R plane, G plane, B plane).
// Throws yopo::Error for an empty/inconsistent image or a bad config (unknown mode, sizes <= 0).
std::vector<float> preprocess_image(const Image& img, const PreprocessConfig& cfg);

// The pipeline up to and including the center crop, before rescale/normalize: crop x crop uint8.
Image preprocess_to_uint8(const Image& img, const PreprocessConfig& cfg);

// PIL Image.resize(size, Image.BICUBIC) for an RGB image, bit-exact: separable cubic convolution
// (a = -0.5, support 2, widened by the scale factor when downsampling), per-pixel normalised
// coefficients in 22-bit fixed point, horizontal pass then vertical, a pass skipped when that
// dimension is unchanged.
Image resize_bicubic_pil(const Image& img, int out_w, int out_h);

// LLaVA's expand2square: the image centred at ((side-w)/2, (side-h)/2) on a bg-filled square of
// side max(w, h). A square image is returned unchanged.
Image expand_to_square(const Image& img, std::array<uint8_t, 3> bg);

// Hugging Face center_crop: top = floor((h - crop_h) / 2), left = floor((w - crop_w) / 2); where
// the crop reaches outside the image (crop larger than the image) the pixels are zero.
Image center_crop(const Image& img, int w, int h);

// Output (width, height) of CLIP's shortest-edge resize, as transformers'
// get_resize_output_image_size(default_to_square=False): the short side becomes `size`, the long
// side int(size * long / short).
std::array<int, 2> shortest_edge_size(int width, int height, int size);

// int(mean[c] * 255): LLaVA's padding colour, (122, 116, 104) for the CLIP mean.
std::array<uint8_t, 3> pad_color(const std::array<float, 3>& mean);

}  // namespace yopo
