#include "runtime/bench/random_models.h"

#include <algorithm>

#include "core/error.h"
#include "runtime/bench/random_fill.h"

namespace yopo::bench {

namespace {

std::vector<float> ones(int64_t n) {
  return std::vector<float>(size_t(n), 1.0f);
}

std::vector<float> uniform_vec(int64_t n, uint64_t seed, float scale) {
  std::vector<float> v(static_cast<size_t>(n));
  fill_uniform(v.data(), n, seed, scale);
  return v;
}

int64_t matrix_bytes(const ops::WeightMatrix& w) {
  return w.empty() ? 0 : w.bytes();
}

int64_t floats_bytes(const std::vector<float>& v) {
  return int64_t(v.size() * sizeof(float));
}

// Tensor ids inside one model's seed space.
enum : uint64_t { kEmbedding = 1, kOutput, kPatch, kClass, kPos, kProj1, kProj2, kBias1, kBias2 };

}  // namespace

const std::vector<std::string>& decoder_shape_names() {
  static const std::vector<std::string> names = {"llava-1.5-7b", "llava-1.5-13b"};
  return names;
}

DecoderShape llava15_decoder_shape(const std::string& name) {
  DecoderShape s;
  if (name == "llava-1.5-7b" || name == "7b") {
    s = {"llava-1.5-7b", 4096, 32, 32, 32, 128, 11008, 32000, 4096};
  } else if (name == "llava-1.5-13b" || name == "13b") {
    s = {"llava-1.5-13b", 5120, 40, 40, 40, 128, 13824, 32000, 4096};
  } else {
    fail("unknown model shape '", name, "' (known: llava-1.5-7b, llava-1.5-13b)");
  }
  return s;
}

LlamaConfig bench_llama_config(const DecoderShape& s, int64_t layers, int64_t positions) {
  check(layers >= 1 && layers <= s.n_layers, "--layers must be between 1 and ", s.n_layers, " for ",
        s.name, ", not ", layers);
  LlamaConfig c;
  c.vocab_size = s.vocab;
  c.dim = s.dim;
  c.n_layers = layers;
  c.n_heads = s.n_heads;
  c.n_kv_heads = s.n_kv_heads;
  c.head_dim = s.head_dim;
  c.ffn_dim = s.ffn_dim;
  c.max_position = std::max(s.max_position, positions);
  c.norm_eps = 1e-5f;  // Vicuna-v1.5's rms_norm_eps
  c.rope_theta = 10000.0;
  c.validate();
  return c;
}

int64_t decoder_param_count(const LlamaConfig& c) {
  const int64_t qd = c.n_heads * c.head_dim, kvd = c.n_kv_heads * c.head_dim;
  const int64_t layer = 2 * c.dim                       // attention and FFN norms
                        + qd * c.dim + 2 * kvd * c.dim  // q, k, v
                        + c.dim * qd                    // o
                        + 3 * c.ffn_dim * c.dim;        // gate, up, down
  const int64_t heads = (c.tied_embeddings ? 1 : 2) * c.vocab_size * c.dim;
  return c.n_layers * layer + heads + c.dim;  // + the output norm
}

int64_t llama_weight_bytes(const LlamaWeights& w) {
  int64_t b = matrix_bytes(w.embedding) + matrix_bytes(w.output) + floats_bytes(w.output_norm);
  for (const LlamaLayerWeights& L : w.layers) {
    b += floats_bytes(L.attn_norm) + floats_bytes(L.ffn_norm);
    for (const ops::WeightMatrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
      b += matrix_bytes(*m);
  }
  return b;
}

LlamaWeights random_llama_weights(const LlamaConfig& c, DType dtype, uint64_t seed) {
  c.validate();
  const int64_t qd = c.n_heads * c.head_dim, kvd = c.n_kv_heads * c.head_dim, d = c.dim;
  LlamaWeights w;
  // Embedding rows O(1) like real token embeddings after the first norm.
  // I8: the embedding and the head stay BF16 (the int8 mode quantizes the layers' projections).
  const DType table = llama_table_dtype(dtype);
  w.embedding = random_weight_matrix(c.vocab_size, d, table, derive_seed(seed, kEmbedding));
  w.output = random_weight_matrix(c.vocab_size, d, table, derive_seed(seed, kOutput));
  w.output_norm = ones(d);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const uint64_t base = 100 + uint64_t(l);
    auto mat = [&](int64_t rows, int64_t cols, uint64_t which) {
      return random_weight_matrix(rows, cols, dtype, derive_seed(seed, base, which));
    };
    LlamaLayerWeights L;
    L.attn_norm = ones(d);
    L.ffn_norm = ones(d);
    L.wq = mat(qd, d, 1);
    L.wk = mat(kvd, d, 2);
    L.wv = mat(kvd, d, 3);
    L.wo = mat(d, qd, 4);
    L.w_gate = mat(c.ffn_dim, d, 5);
    L.w_up = mat(c.ffn_dim, d, 6);
    L.w_down = mat(d, c.ffn_dim, 7);
    w.layers.push_back(std::move(L));
  }
  return w;
}

std::unique_ptr<LlamaModel> random_llama_model(const LlamaConfig& cfg, DType dtype, uint64_t seed) {
  return std::make_unique<LlamaModel>(cfg, random_llama_weights(cfg, dtype, seed));
}

ClipVisionConfig clip_vit_l14_336() {
  ClipVisionConfig c;
  c.image_size = 336;
  c.patch_size = 14;
  c.channels = 3;
  c.dim = 1024;
  c.n_layers = 24;
  c.n_heads = 16;
  c.ffn_dim = 4096;
  c.norm_eps = 1e-5f;
  c.quick_gelu = true;
  return c;
}

int64_t clip_param_count(const ClipVisionConfig& c, int64_t n_run) {
  const int64_t d = c.dim, m = c.ffn_dim;
  const int64_t embed = d * c.channels * c.patch_size * c.patch_size  // patch conv, no bias
                        + d                                           // class embedding
                        + c.n_positions() * d                         // position embedding
                        + 2 * d;                                      // pre-LayerNorm
  const int64_t layer = 4 * (d * d + d)                               // q, k, v, o with biases
                        + 2 * 2 * d                                   // two LayerNorms
                        + (m * d + m)                                 // fc1
                        + (d * m + d);                                // fc2
  return embed + n_run * layer;
}

int64_t clip_weight_bytes(const ClipVisionWeights& w) {
  int64_t b = matrix_bytes(w.patch) + floats_bytes(w.patch_bias) + floats_bytes(w.class_embd) +
              floats_bytes(w.pos_embd) + floats_bytes(w.pre_ln_w) + floats_bytes(w.pre_ln_b);
  for (const ClipLayerWeights& L : w.layers) {
    for (const std::vector<float>* v :
         {&L.ln1_w, &L.ln1_b, &L.ln2_w, &L.ln2_b, &L.bqkv, &L.bo, &L.b1, &L.b2})
      b += floats_bytes(*v);
    for (const ops::WeightMatrix* m : {&L.wqkv, &L.wo, &L.fc1, &L.fc2}) b += matrix_bytes(*m);
  }
  return b;
}

ClipVisionWeights random_clip_weights(const ClipVisionConfig& c, int64_t n_run, DType dtype,
                                      uint64_t seed) {
  c.validate();
  check(n_run >= 0 && n_run <= c.n_layers, "vision layers to run must be between 0 and ",
        c.n_layers, ", not ", n_run);
  const int64_t d = c.dim, m = c.ffn_dim, k = c.channels * c.patch_size * c.patch_size;
  ClipVisionWeights w;
  w.patch = random_weight_matrix(d, k, dtype, derive_seed(seed, kPatch));
  w.class_embd = uniform_vec(d, derive_seed(seed, kClass), 0.1f);
  w.pos_embd = uniform_vec(c.n_positions() * d, derive_seed(seed, kPos), 0.1f);
  w.pre_ln_w = ones(d);
  w.pre_ln_b.assign(size_t(d), 0.0f);
  for (int64_t l = 0; l < n_run; ++l) {
    const uint64_t base = 100 + uint64_t(l);
    auto mat = [&](int64_t rows, int64_t cols, uint64_t which) {
      return random_weight_matrix(rows, cols, dtype, derive_seed(seed, base, which));
    };
    auto bias = [&](int64_t n, uint64_t which) {
      return uniform_vec(n, derive_seed(seed, base, which), 0.02f);
    };
    ClipLayerWeights L;
    L.ln1_w = ones(d);
    L.ln2_w = ones(d);
    L.ln1_b.assign(size_t(d), 0.0f);
    L.ln2_b.assign(size_t(d), 0.0f);
    L.wqkv = mat(3 * d, d, 1);
    L.wo = mat(d, d, 4);
    L.fc1 = mat(m, d, 5);
    L.fc2 = mat(d, m, 6);
    L.bqkv = bias(3 * d, 11);
    L.bo = bias(d, 14);
    L.b1 = bias(m, 15);
    L.b2 = bias(d, 16);
    w.layers.push_back(std::move(L));
  }
  return w;
}

std::unique_ptr<ClipVisionTower> random_clip_tower(const ClipVisionConfig& cfg, int64_t n_run,
                                                   DType dtype, uint64_t seed) {
  return std::make_unique<ClipVisionTower>(cfg, random_clip_weights(cfg, n_run, dtype, seed));
}

MlpProjector random_projector(int64_t in, int64_t hidden, int64_t out, DType dtype, uint64_t seed) {
  check(in > 0 && hidden > 0 && out > 0, "projector sizes must be positive");
  MlpProjector p;
  p.w1 = random_weight_matrix(hidden, in, dtype, derive_seed(seed, kProj1));
  p.w2 = random_weight_matrix(out, hidden, dtype, derive_seed(seed, kProj2));
  p.b1 = uniform_vec(hidden, derive_seed(seed, kBias1), 0.02f);
  p.b2 = uniform_vec(out, derive_seed(seed, kBias2), 0.02f);
  return p;
}

int64_t projector_weight_bytes(const MlpProjector& p) {
  return matrix_bytes(p.w1) + matrix_bytes(p.w2) + floats_bytes(p.b1) + floats_bytes(p.b2);
}

}  // namespace yopo::bench
