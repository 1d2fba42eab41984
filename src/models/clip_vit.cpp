#include "models/clip_vit.h"

#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/gguf.h"
#include "models/llama_weights.h"
#include "ops/attention.h"
#include "ops/attention_bf16.h"
#include "ops/bias.h"
#include "ops/matmul.h"
#include "ops/norm.h"

namespace yopo {

void ClipVisionConfig::validate() const {
  check(image_size > 0 && patch_size > 0 && image_size % patch_size == 0,
        "CLIP config: image size ", image_size, " is not a multiple of the patch size ",
        patch_size);
  check(dim > 0 && n_heads > 0 && dim % n_heads == 0, "CLIP config: hidden size ", dim,
        " is not a multiple of ", n_heads, " heads");
  check(n_layers > 0 && ffn_dim > 0 && channels > 0, "CLIP config has a non-positive size");
  check(dim <= (1 << 14) && n_layers <= 256 && image_size <= 4096,
        "CLIP config sizes are implausibly large");
}

namespace {

template <class T>
T get_or(const nlohmann::json& j, const char* key, T def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("vision config: '", key, "' has the wrong type (", it->type_name(), ")");
  }
}

}  // namespace

ClipVisionConfig clip_config_from_hf(const nlohmann::json& j0) {
  check(j0.is_object(), "vision config is not a JSON object");
  const nlohmann::json& j = j0.contains("vision_config") ? j0["vision_config"] : j0;
  ClipVisionConfig c;
  c.image_size = get_or<int64_t>(j, "image_size", 224);
  c.patch_size = get_or<int64_t>(j, "patch_size", 32);
  c.channels = get_or<int64_t>(j, "num_channels", 3);
  c.dim = get_or<int64_t>(j, "hidden_size", 768);
  c.n_layers = get_or<int64_t>(j, "num_hidden_layers", 12);
  c.n_heads = get_or<int64_t>(j, "num_attention_heads", 12);
  c.ffn_dim = get_or<int64_t>(j, "intermediate_size", 3072);
  c.norm_eps = get_or<float>(j, "layer_norm_eps", 1e-5f);
  const std::string act = get_or<std::string>(j, "hidden_act", "quick_gelu");
  check(act == "quick_gelu" || act == "gelu", "vision config: hidden_act '", act,
        "' is not supported (quick_gelu, gelu)");
  c.quick_gelu = act == "quick_gelu";
  c.validate();
  return c;
}

ClipVisionConfig clip_config_from_gguf(const GgufFile& f) {
  check(f.get_string("general.architecture") == "clip", f.path(),
        ": not a CLIP vision (mmproj) file");
  check(f.get_bool("clip.has_vision_encoder", true), f.path(), ": has no vision encoder");
  ClipVisionConfig c;
  c.image_size = f.get_int("clip.vision.image_size");
  c.patch_size = f.get_int("clip.vision.patch_size");
  c.dim = f.get_int("clip.vision.embedding_length");
  c.ffn_dim = f.get_int("clip.vision.feed_forward_length");
  c.n_layers = f.get_int("clip.vision.block_count");
  c.n_heads = f.get_int("clip.vision.attention.head_count");
  c.norm_eps = float(f.get_float("clip.vision.attention.layer_norm_epsilon", 1e-5));
  c.quick_gelu = !f.get_bool("clip.use_gelu", false);
  c.validate();
  return c;
}

int64_t clip_layers_for_feature(int64_t n_layers, int64_t feature_layer) {
  const int64_t run = feature_layer < 0 ? n_layers + 1 + feature_layer : feature_layer;
  check(run >= 0 && run <= n_layers, "vision feature layer ", feature_layer,
        " is outside a tower of ", n_layers, " layers");
  return run;
}

ClipVisionWeights load_clip_weights(const TensorSource& src, const ClipVisionConfig& cfg,
                                    const ClipTensorNames& names, int64_t n_run, DType dtype) {
  check(n_run >= 0 && n_run <= cfg.n_layers, "cannot run ", n_run, " of ", cfg.n_layers,
        " vision layers");
  const bool gguf = names.scheme == ClipTensorNames::Scheme::GGUF;
  const int64_t d = cfg.dim, m = cfg.ffn_dim, p = cfg.patch_size;
  auto vec = [&](const std::string& name, int64_t n) { return read_tensor_f32(src, name, {n}); };
  auto mat = [&](const std::string& name, int64_t rows, int64_t cols) {
    const std::vector<float> w = read_tensor_f32(src, name, {rows, cols});
    return ops::WeightMatrix::from_f32(w.data(), rows, cols, dtype);
  };
  const std::string& P = names.prefix;

  ClipVisionWeights w;
  const std::string patch_name =
      gguf ? "v.patch_embd.weight" : P + "embeddings.patch_embedding.weight";
  const std::vector<float> patch = read_tensor_f32(src, patch_name, {d, cfg.channels, p, p});
  w.patch = ops::WeightMatrix::from_f32(patch.data(), d, cfg.channels * p * p, dtype);
  if (gguf && src.find("v.patch_embd.bias")) w.patch_bias = vec("v.patch_embd.bias", d);
  w.class_embd = vec(gguf ? "v.class_embd" : P + "embeddings.class_embedding", d);
  w.pos_embd = read_tensor_f32(
      src, gguf ? "v.position_embd.weight" : P + "embeddings.position_embedding.weight",
      {cfg.n_positions(), d});
  const std::string pre = gguf ? "v.pre_ln." : P + "pre_layrnorm.";
  w.pre_ln_w = vec(pre + "weight", d);
  w.pre_ln_b = vec(pre + "bias", d);

  w.layers.resize(size_t(n_run));
  for (int64_t l = 0; l < n_run; ++l) {
    ClipLayerWeights& L = w.layers[size_t(l)];
    const std::string b =
        gguf ? "v.blk." + std::to_string(l) + "." : P + "encoder.layers." + std::to_string(l) + ".";
    auto name = [&](const char* hf, const char* gg) { return b + (gguf ? gg : hf); };
    L.ln1_w = vec(name("layer_norm1.weight", "ln1.weight"), d);
    L.ln1_b = vec(name("layer_norm1.bias", "ln1.bias"), d);
    L.ln2_w = vec(name("layer_norm2.weight", "ln2.weight"), d);
    L.ln2_b = vec(name("layer_norm2.bias", "ln2.bias"), d);
    std::vector<float> qkv;
    for (const auto& [hf, gg] :
         {std::pair{"self_attn.q_proj.", "attn_q."}, std::pair{"self_attn.k_proj.", "attn_k."},
          std::pair{"self_attn.v_proj.", "attn_v."}}) {
      const std::vector<float> part = read_tensor_f32(src, b + (gguf ? gg : hf) + "weight", {d, d});
      qkv.insert(qkv.end(), part.begin(), part.end());
      const std::vector<float> bias = vec(b + (gguf ? gg : hf) + "bias", d);
      L.bqkv.insert(L.bqkv.end(), bias.begin(), bias.end());
    }
    L.wqkv = ops::WeightMatrix::from_f32(qkv.data(), 3 * d, d, dtype);
    L.wo = mat(name("self_attn.out_proj.weight", "attn_out.weight"), d, d);
    L.bo = vec(name("self_attn.out_proj.bias", "attn_out.bias"), d);
    std::string fc1 = name("mlp.fc1.", "ffn_down."), fc2 = name("mlp.fc2.", "ffn_up.");
    if (gguf && m != d) {
      // Trust shapes over names: fc1 maps dim -> ffn ([ffn, dim] row-major).
      const RawTensor* t = src.find(fc1 + "weight");
      if (t && t->shape == std::vector<int64_t>{d, m}) std::swap(fc1, fc2);
    }
    L.fc1 = mat(fc1 + "weight", m, d);
    L.b1 = vec(fc1 + "bias", m);
    L.fc2 = mat(fc2 + "weight", d, m);
    L.b2 = vec(fc2 + "bias", d);
  }
  return w;
}

ClipVisionTower::ClipVisionTower(ClipVisionConfig cfg, ClipVisionWeights w)
    : cfg_(std::move(cfg)), w_(std::move(w)) {}

namespace {

// x[r, c] += h[r, c] + b[c] for rows of d values (one pass for the bias and the residual).
void add_bias_residual(ops::Context& ctx, float* x, const float* h, const float* b, int64_t rows,
                       int64_t d) {
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < d; ++c) x[r * d + c] += h[r * d + c] + b[c];
}

}  // namespace

void ClipVisionTower::embed(ops::Context& ctx, const float* pixels, int64_t n_images,
                            float* x) const {
  const int64_t S = cfg_.image_size, p = cfg_.patch_size, g = cfg_.grid(), C = cfg_.channels,
                d = cfg_.dim, np = cfg_.n_patches(), npos = cfg_.n_positions(), k = C * p * p;
  // im2col: one row per patch (row-major over the grid), laid out (c, y, x) like the conv weight.
  std::vector<float> cols(size_t(n_images * np * k));
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < n_images; ++i)
    for (int64_t pr = 0; pr < g; ++pr)
      for (int64_t pc = 0; pc < g; ++pc) {
        float* row = &cols[size_t(((i * np) + pr * g + pc) * k)];
        for (int64_t c = 0; c < C; ++c)
          for (int64_t y = 0; y < p; ++y) {
            const float* src = pixels + ((i * C + c) * S + pr * p + y) * S + pc * p;
            std::memcpy(row + (c * p + y) * p, src, size_t(p) * sizeof(float));
          }
      }
  for (int64_t i = 0; i < n_images; ++i) {
    float* xi = x + i * npos * d;
    std::memcpy(xi, w_.class_embd.data(), size_t(d) * sizeof(float));
    ops::matmul(ctx, &cols[size_t(i * np * k)], np, k, w_.patch.full(), xi + d, d);
    if (!w_.patch_bias.empty()) ops::add_bias_rows(ctx, xi + d, np, d, d, w_.patch_bias.data());
    for (int64_t r = 0; r < npos; ++r)
      for (int64_t c = 0; c < d; ++c) xi[r * d + c] += w_.pos_embd[size_t(r * d + c)];
  }
  ops::layer_norm(ctx, x, n_images * npos, d, d, w_.pre_ln_w.data(), w_.pre_ln_b.data(),
                  cfg_.norm_eps, x, d);
}

void ClipVisionTower::layer_forward(ops::Context& ctx, const ClipLayerWeights& L, float* x,
                                    int64_t n_images, LayerBuffers& b) const {
  const int64_t d = cfg_.dim, m = cfg_.ffn_dim, npos = cfg_.n_positions(), rows = n_images * npos,
                hd = cfg_.head_dim();
  b.h.resize(size_t(rows * d));
  b.qkv.resize(size_t(rows * 3 * d));
  b.att.resize(size_t(rows * d));
  b.f.resize(size_t(rows * m));
  float* h = b.h.data();
  float* qkv = b.qkv.data();
  float* att = b.att.data();
  float* f = b.f.data();
  ops::layer_norm(ctx, x, rows, d, d, L.ln1_w.data(), L.ln1_b.data(), cfg_.norm_eps, h, d);
  ops::matmul(ctx, h, rows, d, L.wqkv.full(), qkv, 3 * d);
  ops::add_bias_rows(ctx, qkv, rows, 3 * d, 3 * d, L.bqkv.data());
  const ops::AttentionShape shape{cfg_.n_heads, cfg_.n_heads, hd};
  // bf16 weights: the attention products run in bf16 too (the projections already round their
  // inputs to bf16); f32 weights keep the f32 attention.
  const bool bf16 = L.wqkv.dtype == DType::BF16;
  for (int64_t i = 0; i < n_images; ++i) {
    const float* qi = qkv + i * npos * 3 * d;
    float* oi = att + i * npos * d;
    const float scale = 1.0f / std::sqrt(float(hd));
    if (bf16) {
      ops::attention_full_bf16(ctx, qi, npos, 3 * d, qi + d, qi + 2 * d, npos, 3 * d, shape, scale,
                               oi, d);
    } else {
      ops::attention_full(ctx, qi, npos, 3 * d, qi + d, qi + 2 * d, npos, 3 * d, shape, scale, oi,
                          d);
    }
  }
  ops::matmul(ctx, att, rows, d, L.wo.full(), h, d);
  add_bias_residual(ctx, x, h, L.bo.data(), rows, d);

  ops::layer_norm(ctx, x, rows, d, d, L.ln2_w.data(), L.ln2_b.data(), cfg_.norm_eps, h, d);
  ops::matmul(ctx, h, rows, d, L.fc1.full(), f, m);
  ops::add_bias_gelu_rows(ctx, f, rows, m, L.b1.data(), cfg_.quick_gelu);
  ops::matmul(ctx, f, rows, m, L.fc2.full(), h, d);
  add_bias_residual(ctx, x, h, L.b2.data(), rows, d);
}

std::vector<float> ClipVisionTower::encode(ops::Context& ctx, const float* pixels,
                                           int64_t n_images) const {
  check(n_images > 0, "no images to encode");
  std::vector<float> x(size_t(n_images * cfg_.n_positions() * cfg_.dim));
  embed(ctx, pixels, n_images, x.data());
  LayerBuffers buffers;
  for (const ClipLayerWeights& L : w_.layers) layer_forward(ctx, L, x.data(), n_images, buffers);
  return x;
}

}  // namespace yopo
