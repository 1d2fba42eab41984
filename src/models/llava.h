// LLaVA-1.5: CLIP vision tower -> mlp2x_gelu projector -> LLaMA decoder. Images become rows of
// the decoder's input sequence in place of an image marker.
#pragma once

#include <memory>
#include <vector>

#include "models/clip_vit.h"
#include "models/llama.h"
#include "models/projector.h"
#include "vision/preprocess.h"

namespace yopo {

// Marks the place of an image in a prompt's token ids (LLaVA's IMAGE_TOKEN_INDEX).
inline constexpr int32_t kImageMarker = -200;

struct LlavaModel {
  std::unique_ptr<ClipVisionTower> vision;
  MlpProjector projector;
  std::unique_ptr<LlamaModel> llm;
  PreprocessConfig preprocess;
  bool drop_class_token = true;  // vision_feature_select_strategy "default" / "patch"
  int32_t image_token_id = -1;   // the vocabulary's <image> id (llava-hf), -1 when none

  int64_t rows_per_image() const {
    return vision->config().n_patches() + (drop_class_token ? 0 : 1);
  }
  int64_t grid_rows() const { return vision->config().grid(); }
  int64_t grid_cols() const { return vision->config().grid(); }

  // Vision features of the selected layer: [n_images * rows_per_image(), vision dim].
  std::vector<float> vision_features(ops::Context& ctx, const float* pixels,
                                     int64_t n_images) const;
  // Projected rows for the decoder: [n_images * rows_per_image(), decoder dim].
  std::vector<float> encode_images(ops::Context& ctx, const float* pixels,
                                   int64_t n_images) const;
};

}  // namespace yopo
