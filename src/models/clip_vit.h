// The CLIP ViT vision tower of LLaVA: patch embedding as a matrix product, class token FIRST,
// learned position embeddings, pre-LayerNorm, pre-norm encoder blocks with quick-GELU.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "io/tensor_source.h"
#include "ops/context.h"
#include "ops/weights.h"

namespace yopo {

class GgufFile;

struct ClipVisionConfig {
  int64_t image_size = 336;
  int64_t patch_size = 14;
  int64_t channels = 3;
  int64_t dim = 1024;
  int64_t n_layers = 24;  // layers of the original tower
  int64_t n_heads = 16;
  int64_t ffn_dim = 4096;
  float norm_eps = 1e-5f;
  bool quick_gelu = true;  // x*sigmoid(1.702x); false: exact GELU

  int64_t grid() const { return image_size / patch_size; }
  int64_t n_patches() const { return grid() * grid(); }
  int64_t n_positions() const { return n_patches() + 1; }
  int64_t head_dim() const { return dim / n_heads; }
  void validate() const;
};

// From a CLIPVisionConfig object or a CLIPConfig object (its "vision_config").
ClipVisionConfig clip_config_from_hf(const nlohmann::json& j);
// From an mmproj GGUF (clip.vision.* keys). n_layers is the number of blocks stored.
ClipVisionConfig clip_config_from_gguf(const GgufFile& f);

struct ClipLayerWeights {
  std::vector<float> ln1_w, ln1_b, ln2_w, ln2_b;
  ops::WeightMatrix wqkv;  // [3 * dim, dim]: q_proj, k_proj, v_proj rows stacked (one product)
  ops::WeightMatrix wo, fc1, fc2;
  std::vector<float> bqkv;  // [3 * dim]: the three biases in the same order
  std::vector<float> bo, b1, b2;
};

struct ClipVisionWeights {
  ops::WeightMatrix patch;        // [dim, channels*patch*patch], conv weight flattened (c, y, x)
  std::vector<float> patch_bias;  // empty: no bias (CLIP)
  std::vector<float> class_embd;  // [dim]
  std::vector<float> pos_embd;    // [n_positions, dim]
  std::vector<float> pre_ln_w, pre_ln_b;
  std::vector<ClipLayerWeights> layers;  // only the layers that are run
};

// How a file names the tower's tensors.
struct ClipTensorNames {
  enum class Scheme { HF, GGUF };
  Scheme scheme = Scheme::HF;
  std::string prefix = "vision_model.";  // HF: "vision_model." or "vision_tower.vision_model."
};

// Loads the embeddings and the first n_run layers. GGUF mmproj files (llama.cpp's converter)
// store fc1 under "ffn_down" and fc2 under "ffn_up": the two are told apart by shape.
ClipVisionWeights load_clip_weights(const TensorSource& src, const ClipVisionConfig& cfg,
                                    const ClipTensorNames& names, int64_t n_run, DType dtype);

class ClipVisionTower {
 public:
  // n_run: encoder layers to run = the hidden state that is taken as features.
  ClipVisionTower(ClipVisionConfig cfg, ClipVisionWeights w);

  const ClipVisionConfig& config() const { return cfg_; }
  int64_t layers_run() const { return int64_t(w_.layers.size()); }

  // pixels: n_images x [channels, image_size, image_size] (CHW). Returns the hidden state after
  // the last loaded layer for every image: [n_images * n_positions, dim], class token first.
  std::vector<float> encode(ops::Context& ctx, const float* pixels, int64_t n_images) const;

 private:
  void embed(ops::Context& ctx, const float* pixels, int64_t n_images, float* x) const;
  // Per-layer buffers, allocated once per encode() and reused by every layer (fresh large
  // allocations would page-fault in each layer).
  struct LayerBuffers {
    std::vector<float> h, qkv, att, f;
  };
  void layer_forward(ops::Context& ctx, const ClipLayerWeights& L, float* x, int64_t n_images,
                     LayerBuffers& b) const;

  ClipVisionConfig cfg_;
  ClipVisionWeights w_;
};

// Converts a HF-style vision_feature_layer (negative: from the end of hidden_states, which has
// n_layers + 1 entries) into the number of layers to run.
int64_t clip_layers_for_feature(int64_t n_layers, int64_t feature_layer);

}  // namespace yopo
