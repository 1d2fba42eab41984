// LLaVA-1.5 components at their real shapes with seeded random weights, for benchmarks: the
// LLaMA decoder (Vicuna-7B / -13B), the CLIP ViT-L/14-336 tower and the mlp2x_gelu projector.
// A decoder or tower may be built with fewer layers than the real model (the benchmark then
// extrapolates); everything else keeps the real sizes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/clip_vit.h"
#include "models/llama.h"
#include "models/projector.h"

namespace yopo::bench {

// A decoder shape by name.
struct DecoderShape {
  std::string name;  // "llava-1.5-7b"
  int64_t dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, ffn_dim = 0;
  int64_t vocab = 0;
  int64_t max_position = 0;
};

// "llava-1.5-7b" (also "7b"): d 4096, 32 layers, 32 heads, FFN 11008, vocab 32000;
// "llava-1.5-13b" (also "13b"): d 5120, 40 layers, 40 heads, FFN 13824, vocab 32000.
// Throws yopo::Error naming the known shapes otherwise.
DecoderShape llava15_decoder_shape(const std::string& name);
const std::vector<std::string>& decoder_shape_names();

// The decoder config with `layers` layers (1 <= layers <= shape.n_layers) and a RoPE table of
// at least `positions` positions (LLaVA-1.5's 4096 otherwise).
LlamaConfig bench_llama_config(const DecoderShape& shape, int64_t layers, int64_t positions = 0);

// Parameters of a decoder with this config: embedding, untied output head, norms, layers.
int64_t decoder_param_count(const LlamaConfig& cfg);
// Bytes the engine holds for these weights (matrices in their dtype with any int8 scales,
// norms in f32).
int64_t llama_weight_bytes(const LlamaWeights& w);

// Seeded random weights: matrices uniform with std 1/sqrt(fan-in), norms 1, embedding rows
// uniform in [-1, 1). dtype F32 or BF16, or I8: the projections quantized per row from the F32
// values of the same seed, embedding and head in BF16 (as load_llama_weights).
LlamaWeights random_llama_weights(const LlamaConfig& cfg, DType dtype, uint64_t seed);
std::unique_ptr<LlamaModel> random_llama_model(const LlamaConfig& cfg, DType dtype, uint64_t seed);

// CLIP ViT-L/14 at 336 px: 24 layers, d 1024, 16 heads, FFN 4096, quick-GELU, 577 positions.
ClipVisionConfig clip_vit_l14_336();
// LLaVA-1.5 runs 23 of the 24 layers (vision feature layer -2).
inline constexpr int64_t kLlavaVisionLayersRun = 23;

// Parameters of the embeddings, pre-LayerNorm and n_run encoder layers (what the tower loads).
int64_t clip_param_count(const ClipVisionConfig& cfg, int64_t n_run);
int64_t clip_weight_bytes(const ClipVisionWeights& w);

ClipVisionWeights random_clip_weights(const ClipVisionConfig& cfg, int64_t n_run, DType dtype,
                                      uint64_t seed);
std::unique_ptr<ClipVisionTower> random_clip_tower(const ClipVisionConfig& cfg, int64_t n_run,
                                                   DType dtype, uint64_t seed);

// mlp2x_gelu: Linear(in, hidden) -> GELU -> Linear(hidden, out), small random biases.
MlpProjector random_projector(int64_t in, int64_t hidden, int64_t out, DType dtype, uint64_t seed);
int64_t projector_weight_bytes(const MlpProjector& p);

}  // namespace yopo::bench
