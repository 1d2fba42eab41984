#include "support/random_llama.h"

#include <cmath>
#include <limits>
#include <numbers>

#include "core/error.h"

namespace yopo::test {

uint64_t TestRng::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double TestRng::uniform() {
  return double(next() >> 11) * 0x1.0p-53;
}

double TestRng::normal() {
  // Box-Muller; 1 - u keeps the logarithm finite.
  const double u = 1.0 - uniform(), v = uniform();
  return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * std::numbers::pi * v);
}

int64_t TestRng::below(int64_t n) {
  return int64_t(next() % uint64_t(n));
}

namespace {

std::vector<float> normals(TestRng& rng, int64_t n, double stddev, double mean = 0.0) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = float(mean + stddev * rng.normal());
  return v;
}

}  // namespace

RandomLlama make_random_llama(const RandomLlamaSpec& s) {
  RandomLlama m;
  LlamaConfig& c = m.cfg;
  c.vocab_size = s.vocab;
  c.dim = s.dim;
  c.n_layers = s.n_layers;
  c.n_heads = s.n_heads;
  c.n_kv_heads = s.n_kv_heads;
  c.head_dim = s.head_dim;
  c.ffn_dim = s.ffn_dim;
  c.max_position = 512;
  c.norm_eps = 1e-5f;
  c.rope_theta = 10000.0;
  c.validate();

  TestRng rng(s.seed);
  const int64_t d = s.dim, qd = s.n_heads * s.head_dim, kvd = s.n_kv_heads * s.head_dim,
                f = s.ffn_dim;
  const double in_d = 1.0 / std::sqrt(double(d));
  m.embedding = normals(rng, s.vocab * d, 1.0);
  for (int64_t l = 0; l < s.n_layers; ++l) {
    RandomLlamaLayer L;
    L.attn_norm = normals(rng, d, 0.1, 1.0);
    L.ffn_norm = normals(rng, d, 0.1, 1.0);
    // Q and K a little larger than 1/sqrt(d) so that attention is not near-uniform.
    L.wq = normals(rng, qd * d, 1.5 * in_d);
    L.wk = normals(rng, kvd * d, 1.5 * in_d);
    L.wv = normals(rng, kvd * d, in_d);
    L.wo = normals(rng, d * qd, 1.0 / std::sqrt(double(qd)));
    L.w_gate = normals(rng, f * d, in_d);
    L.w_up = normals(rng, f * d, in_d);
    L.w_down = normals(rng, d * f, 1.0 / std::sqrt(double(f)));
    m.layers.push_back(std::move(L));
  }
  m.output_norm = normals(rng, d, 0.1, 1.0);
  m.output = normals(rng, s.vocab * d, 1.5 * in_d);
  return m;
}

LlamaWeights RandomLlama::engine_weights(DType dtype) const {
  using ops::WeightMatrix;
  const int64_t d = cfg.dim, qd = cfg.n_heads * cfg.head_dim, kvd = cfg.n_kv_heads * cfg.head_dim,
                f = cfg.ffn_dim;
  LlamaWeights w;
  w.embedding = WeightMatrix::from_f32(embedding.data(), cfg.vocab_size, d, dtype);
  w.output_norm = output_norm;
  w.output = WeightMatrix::from_f32(output.data(), cfg.vocab_size, d, dtype);
  for (const RandomLlamaLayer& L : layers) {
    LlamaLayerWeights e;
    e.attn_norm = L.attn_norm;
    e.ffn_norm = L.ffn_norm;
    e.wq = WeightMatrix::from_f32(L.wq.data(), qd, d, dtype);
    e.wk = WeightMatrix::from_f32(L.wk.data(), kvd, d, dtype);
    e.wv = WeightMatrix::from_f32(L.wv.data(), kvd, d, dtype);
    e.wo = WeightMatrix::from_f32(L.wo.data(), d, qd, dtype);
    e.w_gate = WeightMatrix::from_f32(L.w_gate.data(), f, d, dtype);
    e.w_up = WeightMatrix::from_f32(L.w_up.data(), f, d, dtype);
    e.w_down = WeightMatrix::from_f32(L.w_down.data(), d, f, dtype);
    w.layers.push_back(std::move(e));
  }
  return w;
}

LlamaModel RandomLlama::engine_model(DType dtype) const {
  return LlamaModel(cfg, engine_weights(dtype));
}

TokenLayout PromptShape::layout() const {
  TokenLayout t;
  t.images.push_back(VisualSegment{prefix, grid_rows, grid_cols});
  return t;
}

std::vector<float> random_prompt(const RandomLlama& m, const PromptShape& shape, uint64_t seed) {
  return random_embeddings(m, shape.layout(), shape.total(), seed);
}

std::vector<float> random_embeddings(const RandomLlama& m, const TokenLayout& layout, int64_t n,
                                     uint64_t seed) {
  TestRng rng(seed);
  const int64_t d = m.cfg.dim;
  std::vector<float> emb(size_t(n * d));
  for (int64_t i = 0; i < n; ++i) {
    float* row = &emb[size_t(i * d)];
    if (layout.is_visual(i)) {
      for (int64_t c = 0; c < d; ++c) row[c] = float(rng.normal());
    } else {
      const float* e = m.embedding_row(int32_t(rng.below(m.cfg.vocab_size)));
      std::copy(e, e + d, row);
    }
  }
  return emb;
}

int32_t argmax_row(const std::vector<double>& logits, int64_t cols, int64_t r) {
  const double* row = &logits[size_t(r * cols)];
  int64_t best = 0;
  for (int64_t c = 1; c < cols; ++c)
    if (row[c] > row[best]) best = c;
  return int32_t(best);
}

// ---------------------------------------------------------------------------------------------
// The naive reference.

namespace {

// Where a sequence row lies: image index (-1 for text) and grid coordinates.
struct RowKind {
  int64_t image = -1;
  int64_t row = 0, col = 0;
  bool visual() const { return image >= 0; }
};

std::vector<RowKind> classify(const TokenLayout& layout, int64_t n) {
  std::vector<RowKind> kinds(static_cast<size_t>(n));
  for (size_t s = 0; s < layout.images.size(); ++s) {
    const VisualSegment& seg = layout.images[s];
    for (int64_t i = seg.start; i < seg.end() && i < n; ++i) {
      const int64_t k = i - seg.start;
      kinds[size_t(i)] = RowKind{int64_t(s), k / seg.grid_cols, k % seg.grid_cols};
    }
  }
  return kinds;
}

}  // namespace

// out[r] = sum_c W[r, c] * x[c] for W [rows, cols] (float) and x, out in double.
void matvec(const std::vector<float>& w, int64_t rows, int64_t cols, const double* x, double* out) {
  for (int64_t r = 0; r < rows; ++r) {
    double acc = 0;
    const float* wr = &w[size_t(r * cols)];
    for (int64_t c = 0; c < cols; ++c) acc += double(wr[c]) * x[c];
    out[r] = acc;
  }
}

void rms_norm(const double* x, const std::vector<float>& w, int64_t d, double eps, double* out) {
  double ss = 0;
  for (int64_t c = 0; c < d; ++c) ss += x[c] * x[c];
  const double inv = 1.0 / std::sqrt(ss / double(d) + eps);
  for (int64_t c = 0; c < d; ++c) out[c] = double(w[size_t(c)]) * (x[c] * inv);
}

// HF "rotate_half" RoPE of one head vector at position pos. As in HF transformers, the inverse
// frequencies 1 / theta^(2i/hd) and the angles pos * inv_freq are float32 values; cos and sin of
// those angles are taken in double here.
void rope(double* v, int64_t hd, int64_t pos, double theta) {
  const int64_t half = hd / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float inv_freq =
        1.0f / float(std::pow(double(float(theta)), double(float(2 * i) / float(hd))));
    const double angle = double(float(pos) * inv_freq);
    const double c = std::cos(angle), s = std::sin(angle);
    const double a = v[i], b = v[i + half];
    v[i] = a * c - b * s;
    v[i + half] = b * c + a * s;
  }
}

std::vector<double> reference_logits(const RandomLlama& m, const float* embeddings, int64_t n,
                                     const TokenLayout& layout, const PruningPlan* plan) {
  const LlamaConfig& c = m.cfg;
  const int64_t d = c.dim, H = c.n_heads, KV = c.n_kv_heads, hd = c.head_dim, qd = H * hd,
                kvd = KV * hd, f = c.ffn_dim, V = c.vocab_size, group = H / KV;
  if (plan) plan->validate(c.n_layers, H, f);
  const bool fast = plan && plan->semantics == PruneSemantics::Fast;
  const double eps = double(c.norm_eps), scale = 1.0 / std::sqrt(double(hd));
  const std::vector<RowKind> kind = classify(layout, n);

  std::vector<double> x(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n * d; ++i) x[size_t(i)] = embeddings[i];
  std::vector<bool> alive(static_cast<size_t>(n), true);
  std::vector<double> h(static_cast<size_t>(d)), q(static_cast<size_t>(n * qd)),
      k(static_cast<size_t>(n * kvd)), v(static_cast<size_t>(n * kvd)),
      att(static_cast<size_t>(qd)), o(static_cast<size_t>(d)), gate(static_cast<size_t>(f)),
      up(static_cast<size_t>(f)), p(static_cast<size_t>(n));

  for (int64_t l = 0; l < c.n_layers; ++l) {
    const RandomLlamaLayer& L = m.layers[size_t(l)];
    const LayerPlan* lp = plan ? plan->layer(l) : nullptr;
    // Fast: visual rows leave the sequence at the first inactive layer, for good.
    if (fast && lp && !lp->visual_active)
      for (int64_t i = 0; i < n; ++i)
        if (kind[size_t(i)].visual()) alive[size_t(i)] = false;

    // Q, K, V of every live row, rotated at the row's original position.
    for (int64_t i = 0; i < n; ++i) {
      if (!alive[size_t(i)]) continue;
      rms_norm(&x[size_t(i * d)], L.attn_norm, d, eps, h.data());
      matvec(L.wq, qd, d, h.data(), &q[size_t(i * qd)]);
      matvec(L.wk, kvd, d, h.data(), &k[size_t(i * kvd)]);
      matvec(L.wv, kvd, d, h.data(), &v[size_t(i * kvd)]);
      for (int64_t hh = 0; hh < H; ++hh) rope(&q[size_t(i * qd + hh * hd)], hd, i, c.rope_theta);
      for (int64_t g = 0; g < KV; ++g) rope(&k[size_t(i * kvd + g * hd)], hd, i, c.rope_theta);
    }

    // Attention: every query row sees the keys of this layer's input (all rows are computed
    // before any residual update, as in one batched forward over the whole sequence).
    std::vector<double> attn_out(static_cast<size_t>(n * d), 0.0);
    for (int64_t i = 0; i < n; ++i) {
      if (!alive[size_t(i)]) continue;
      const RowKind& qi = kind[size_t(i)];
      for (int64_t hh = 0; hh < H; ++hh) {
        const bool pruned = lp && !lp->head_active(hh);
        double* out = &att[size_t(hh * hd)];
        std::fill(out, out + hd, 0.0);
        // Both semantics: a pruned head gives visual query rows nothing.
        if (pruned && qi.visual()) continue;
        const double* qv = &q[size_t(i * qd + hh * hd)];
        const int64_t g = hh / group;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < n; ++j) {
          p[size_t(j)] = -std::numeric_limits<double>::infinity();  // masked
          if (!alive[size_t(j)]) continue;
          const RowKind& kj = kind[size_t(j)];
          bool allowed = j <= i;
          if (qi.visual() && kj.visual() && qi.image == kj.image && lp && lp->window_radius >= 0)
            allowed = std::abs(qi.row - kj.row) <= lp->window_radius &&
                      std::abs(qi.col - kj.col) <= lp->window_radius;
          if (fast && pruned && kj.visual()) allowed = false;  // renormalized over text keys
          if (!allowed) continue;
          double s = 0;
          const double* kv = &k[size_t(j * kvd + g * hd)];
          for (int64_t e = 0; e < hd; ++e) s += qv[e] * kv[e];
          p[size_t(j)] = s * scale;
          mx = std::max(mx, p[size_t(j)]);
        }
        double sum = 0;
        for (int64_t j = 0; j < n; ++j) {
          p[size_t(j)] = std::isinf(p[size_t(j)]) ? 0.0 : std::exp(p[size_t(j)] - mx);
          sum += p[size_t(j)];
        }
        for (int64_t j = 0; j < n; ++j) {
          double pj = p[size_t(j)] / sum;
          // Exact: post-softmax multiplicative mask on visual keys, no renormalization.
          if (!fast && pruned && kind[size_t(j)].visual()) pj = 0;
          if (pj == 0) continue;
          const double* vv = &v[size_t(j * kvd + g * hd)];
          for (int64_t e = 0; e < hd; ++e) out[e] += pj * vv[e];
        }
      }
      matvec(L.wo, d, qd, att.data(), &attn_out[size_t(i * d)]);
    }

    // Residual, then the SwiGLU FFN (visual rows: only the first ffn_width neurons).
    for (int64_t i = 0; i < n; ++i) {
      if (!alive[size_t(i)]) continue;
      double* xi = &x[size_t(i * d)];
      for (int64_t e = 0; e < d; ++e) xi[e] += attn_out[size_t(i * d + e)];
      rms_norm(xi, L.ffn_norm, d, eps, h.data());
      matvec(L.w_gate, f, d, h.data(), gate.data());
      matvec(L.w_up, f, d, h.data(), up.data());
      const int64_t width =
          (kind[size_t(i)].visual() && lp && lp->ffn_width >= 0) ? lp->ffn_width : f;
      for (int64_t u = 0; u < f; ++u) {
        const double g = u < width ? gate[size_t(u)] : 0.0, w = u < width ? up[size_t(u)] : 0.0;
        gate[size_t(u)] = g / (1.0 + std::exp(-g)) * w;
      }
      matvec(L.w_down, d, f, gate.data(), o.data());
      for (int64_t e = 0; e < d; ++e) xi[e] += o[size_t(e)];
    }
  }

  std::vector<double> logits(static_cast<size_t>(n * V), std::numeric_limits<double>::quiet_NaN());
  for (int64_t i = 0; i < n; ++i) {
    if (!alive[size_t(i)]) continue;
    rms_norm(&x[size_t(i * d)], m.output_norm, d, eps, h.data());
    matvec(m.output, V, d, h.data(), &logits[size_t(i * V)]);
  }
  return logits;
}

}  // namespace yopo::test
