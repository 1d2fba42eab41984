#include "prune/calibration.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/error.h"

namespace yopo {

namespace {

enum KeyClass : uint8_t { kSystem = 0, kVisual = 1, kText = 2 };

// The class of every row of an n-row prompt; checks the layout.
std::vector<uint8_t> classify_keys(const TokenLayout& layout, int64_t n) {
  check(!layout.images.empty(),
        "calibration needs a prompt with an image: the token layout has no visual rows");
  std::vector<uint8_t> cls(size_t(n), kSystem);
  int64_t prev_end = 0;
  for (const VisualSegment& s : layout.images) {
    check(s.size() > 0 && s.start >= prev_end && s.end() <= n, "token layout: image segment [",
          s.start, ", ", s.end(), ") is empty, outside the ", n, "-row prompt or out of order");
    prev_end = s.end();
  }
  const int64_t first = layout.images.front().start;
  for (int64_t i = first; i < n; ++i) cls[size_t(i)] = kText;
  for (const VisualSegment& s : layout.images)
    std::fill(cls.begin() + s.start, cls.begin() + s.end(), uint8_t(kVisual));
  check(layout.visual_count() < n, "calibration needs text rows besides the image rows (the ", n,
        "-row prompt is all image)");
  return cls;
}

// Masses of one head: for each query row i, softmax over keys 0..i (float32), summed per key
// class (double) and over rows.
void head_masses(const float* q, int64_t ldq, const float* k, int64_t ldk, int64_t n, int64_t hd,
                 float scale, const uint8_t* cls, double mass[3]) {
  std::vector<float> s(static_cast<size_t>(n));
  mass[0] = mass[1] = mass[2] = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* qi = q + i * ldq;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j <= i; ++j) {
      const float* kj = k + j * ldk;
      float dot = 0;
#pragma omp simd reduction(+ : dot)
      for (int64_t c = 0; c < hd; ++c) dot += qi[c] * kj[c];
      s[size_t(j)] = dot * scale;
      mx = std::max(mx, s[size_t(j)]);
    }
    double sum = 0, part[3] = {0, 0, 0};
    for (int64_t j = 0; j <= i; ++j) {
      const float e = std::exp(s[size_t(j)] - mx);
      sum += double(e);
      part[cls[j]] += double(e);
    }
    for (int c = 0; c < 3; ++c) mass[c] += part[c] / sum;
  }
}

}  // namespace

double SampleAttention::ratio(int64_t l, int64_t h) const {
  const size_t i = index(l, h);
  const double other = system[i] + text[i];
  if (other > 0) return visual[i] / other;
  return visual[i] > 0 ? std::numeric_limits<double>::infinity() : 0.0;
}

double SampleAttention::visual_share(int64_t l, int64_t h) const {
  const size_t i = index(l, h);
  const double all = visual[i] + system[i] + text[i];
  return all > 0 ? visual[i] / all : 0.0;
}

void add_layer_attention_masses(const float* q, int64_t ldq, const float* k, int64_t ldk, int64_t n,
                                const AttentionGeometry& g, const TokenLayout& layout, int64_t l,
                                SampleAttention& out, int threads) {
  check(g.n_heads > 0 && g.n_kv_heads > 0 && g.head_dim > 0 && g.n_heads % g.n_kv_heads == 0,
        "attention geometry: ", g.n_heads, " heads must be a positive multiple of ", g.n_kv_heads,
        " KV heads");
  check(n > 0, "calibration: the prompt is empty");
  check(ldq >= g.n_heads * g.head_dim && ldk >= g.n_kv_heads * g.head_dim,
        "calibration: query/key row strides are smaller than the rows");
  check(out.n_heads == g.n_heads && l >= 0 && l < out.n_layers, "calibration: layer ", l, " / ",
        g.n_heads, " heads do not fit the sample's [", out.n_layers, ", ", out.n_heads, "] masses");
  const std::vector<uint8_t> cls = classify_keys(layout, n);
  const int64_t group = g.n_heads / g.n_kv_heads, hd = g.head_dim;
  const float scale = 1.0f / std::sqrt(float(hd));
  std::vector<double> mass(size_t(g.n_heads * 3));
#pragma omp parallel for num_threads(std::max(threads, 1)) schedule(dynamic, 1)
  for (int64_t h = 0; h < g.n_heads; ++h)
    head_masses(q + h * hd, ldq, k + (h / group) * hd, ldk, n, hd, scale, cls.data(),
                &mass[size_t(h * 3)]);
  for (int64_t h = 0; h < g.n_heads; ++h) {
    const size_t i = out.index(l, h);
    out.system[i] += mass[size_t(h * 3 + kSystem)];
    out.visual[i] += mass[size_t(h * 3 + kVisual)];
    out.text[i] += mass[size_t(h * 3 + kText)];
  }
  out.rows = n;
}

SampleAttention measure_prefill_attention(const LlamaModel& model, ops::Context& ctx,
                                          const float* embeddings, const int32_t* positions,
                                          int64_t n, const TokenLayout& layout) {
  const LlamaConfig& c = model.config();
  classify_keys(layout, n);  // fail before the forward pass on a bad layout
  SampleAttention s;
  s.n_layers = c.n_layers;
  s.n_heads = c.n_heads;
  const size_t cells = size_t(c.n_layers * c.n_heads);
  s.visual.assign(cells, 0.0);
  s.system.assign(cells, 0.0);
  s.text.assign(cells, 0.0);
  const AttentionGeometry g{c.n_heads, c.n_kv_heads, c.head_dim};
  const int64_t qd = c.n_heads * c.head_dim;
  std::vector<float> q;
  int64_t q_layer = -1;
  std::vector<uint8_t> seen(size_t(c.n_layers), 0);
  const DebugHook hook = [&](const char* name, int64_t l, const float* data, int64_t rows,
                             int64_t cols, int64_t ld) {
    if (l < 0 || l >= c.n_layers) return;
    if (std::strcmp(name, "Qcur") == 0) {
      check(rows == n && cols == qd, "calibration: layer ", l, " queries are [", rows, ", ", cols,
            "], expected [", n, ", ", qd, "]");
      q.resize(size_t(n * qd));
      for (int64_t i = 0; i < n; ++i) std::copy_n(data + i * ld, qd, &q[size_t(i * qd)]);
      q_layer = l;
    } else if (std::strcmp(name, "Kcur") == 0) {
      check(q_layer == l && rows == n, "calibration: layer ", l,
            " keys came without its queries or with ", rows, " rows instead of ", n);
      add_layer_attention_masses(q.data(), qd, data, ld, n, g, layout, l, s, ctx.threads());
      seen[size_t(l)] = 1;
    }
  };
  KvCache cache = model.make_cache(n);
  const DecoderBatch batch{embeddings, n, positions, &layout, false, nullptr, nullptr};
  model.forward(ctx, cache, batch, hook);
  for (int64_t l = 0; l < c.n_layers; ++l)
    check(seen[size_t(l)] != 0, "calibration: the decoder reported no queries/keys of layer ", l);
  return s;
}

CalibrationData::CalibrationData(int64_t n_layers, int64_t n_heads)
    : n_layers_(n_layers), n_heads_(n_heads) {
  check(n_layers > 0 && n_heads > 0, "calibration data needs at least one layer and one head");
}

void CalibrationData::add(const SampleAttention& s) {
  check(s.n_layers == n_layers_ && s.n_heads == n_heads_, "calibration sample is [", s.n_layers,
        ", ", s.n_heads, "] but the data is [", n_layers_, ", ", n_heads_, "]");
  std::vector<double> r(size_t(n_layers_ * n_heads_)), v(r.size());
  for (int64_t l = 0; l < n_layers_; ++l)
    for (int64_t h = 0; h < n_heads_; ++h) {
      r[s.index(l, h)] = s.ratio(l, h);
      v[s.index(l, h)] = s.visual_share(l, h);
    }
  add_ratios(std::move(r), std::move(v));
}

void CalibrationData::add_ratios(std::vector<double> ratios, std::vector<double> visual_shares) {
  const size_t cells = size_t(n_layers_ * n_heads_);
  check(ratios.size() == cells && visual_shares.size() == cells, "calibration sample has ",
        ratios.size(), " ratios and ", visual_shares.size(), " shares, expected ", cells);
  for (double r : ratios) check(!std::isnan(r) && r >= 0, "calibration ratio ", r, " is invalid");
  ratios_.push_back(std::move(ratios));
  shares_.push_back(std::move(visual_shares));
}

int64_t active_count(const CalibrationData& d, int64_t l, int64_t h, double alpha) {
  int64_t count = 0;
  for (int64_t s = 0; s < d.n_samples(); ++s) count += d.ratio(s, l, h) > alpha ? 1 : 0;
  return count;
}

HeadMask calibrate_head_mask(const CalibrationData& d, double alpha, double min_active) {
  check(d.n_samples() > 0, "calibration has no samples");
  check(min_active >= 0 && min_active <= 1, "--min-active must be between 0 and 1, not ",
        min_active);
  check(!std::isnan(alpha), "alpha is not a number");
  const double n = double(d.n_samples());
  HeadMask mask(size_t(d.n_layers()), std::vector<uint8_t>(size_t(d.n_heads()), 1));
  for (int64_t l = kAlwaysKeptLayers; l < d.n_layers(); ++l)
    for (int64_t h = 0; h < d.n_heads(); ++h)
      mask[size_t(l)][size_t(h)] = double(active_count(d, l, h, alpha)) / n > min_active ? 1 : 0;
  return mask;
}

AlphaSearch find_alpha_for_target(const CalibrationData& d, double target, double min_active) {
  check(d.n_samples() > 0, "calibration has no samples");
  check(target >= 0 && target <= double(d.n_heads()), "--target-heads must be between 0 and ",
        d.n_heads(), " (the heads per layer), not ", target);
  // Distinct finite ratios of the layers the mask can prune.
  std::vector<double> u;
  for (int64_t s = 0; s < d.n_samples(); ++s)
    for (int64_t l = kAlwaysKeptLayers; l < d.n_layers(); ++l)
      for (int64_t h = 0; h < d.n_heads(); ++h)
        if (std::isfinite(d.ratio(s, l, h))) u.push_back(d.ratio(s, l, h));
  std::sort(u.begin(), u.end());
  u.erase(std::unique(u.begin(), u.end()), u.end());
  // Candidate k keeps the ratios >= u[k] active (k = u.size(): none).
  std::vector<double> alphas;
  if (u.empty()) {
    alphas.push_back(0.0);
  } else {
    alphas.push_back(u[0] > 0 ? u[0] / 2 : -1.0);
    for (size_t k = 1; k < u.size(); ++k) {
      double a = u[k - 1] + (u[k] - u[k - 1]) / 2;
      if (!(a < u[k])) a = u[k - 1];
      alphas.push_back(a);
    }
    alphas.push_back(u.back() * 2 + 1);
  }
  auto eval = [&](size_t k) {
    AlphaSearch r;
    r.alpha = alphas[k];
    r.mask = calibrate_head_mask(d, r.alpha, min_active);
    r.average_kept = average_kept_heads(r.mask);
    return r;
  };
  // The average is non-increasing in k: find the first k with average <= target.
  size_t lo = 0, hi = alphas.size() - 1;
  AlphaSearch at_hi = eval(hi);
  if (at_hi.average_kept > target) return at_hi;  // even the largest alpha keeps more
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    AlphaSearch r = eval(mid);
    if (r.average_kept <= target) {
      hi = mid;
      at_hi = std::move(r);
    } else {
      lo = mid + 1;
    }
  }
  if (hi == 0) return at_hi;
  AlphaSearch before = eval(hi - 1);  // keeps more than target
  return before.average_kept - target <= target - at_hi.average_kept ? before : at_hi;
}

std::vector<LayerProfile> layer_profile(const CalibrationData& d, const HeadMask& mask) {
  check_head_mask_shape(mask, d.n_layers(), d.n_heads(), "calibration mask");
  check(d.n_samples() > 0, "calibration has no samples");
  const std::vector<int64_t> kept = kept_per_layer(mask);
  std::vector<LayerProfile> out;
  const double cells = double(d.n_samples() * d.n_heads());
  for (int64_t l = 0; l < d.n_layers(); ++l) {
    LayerProfile p;
    p.layer = l;
    double share = 0, ratio = 0;
    for (int64_t s = 0; s < d.n_samples(); ++s)
      for (int64_t h = 0; h < d.n_heads(); ++h) {
        share += d.visual_share(s, l, h);
        ratio += d.ratio(s, l, h);
      }
    p.visual_share = share / cells;
    p.mean_ratio = ratio / cells;
    p.kept_heads = kept[size_t(l)];
    out.push_back(p);
  }
  return out;
}

std::string profile_csv(const std::vector<LayerProfile>& profile) {
  std::string out = "layer,visual_share,mean_ratio,kept_heads\n";
  char line[128];
  for (const LayerProfile& p : profile) {
    std::snprintf(line, sizeof(line), "%lld,%.8g,%.8g,%lld\n", (long long)p.layer, p.visual_share,
                  p.mean_ratio, (long long)p.kept_heads);
    out += line;
  }
  return out;
}

void write_calibration_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out) fail("cannot create '", path, "': ", std::strerror(errno));
  out << text;
  out.close();
  if (!out) fail("cannot write '", path, "'");
}

}  // namespace yopo
