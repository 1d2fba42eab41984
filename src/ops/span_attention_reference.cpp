#include "ops/span_attention_reference.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace yopo::ops::ref {

void attention_spans(const SpanAttentionArgs& a, int64_t n_kv) {
  const int64_t H = a.shape.n_heads, d = a.shape.head_dim;
  const int64_t group = H / a.shape.n_kv_heads;
  const size_t n = static_cast<size_t>(n_kv);
  std::vector<double> score(n), weight(n);
  std::vector<uint8_t> inside(n), visual(n);
  for (int64_t i = 0; i < a.n_q; ++i) {
    // Which rows query i sees, and which of those are visual.
    std::fill(inside.begin(), inside.end(), 0);
    std::fill(visual.begin(), visual.end(), 0);
    for (int64_t t = a.span_offsets[i]; t < a.span_offsets[i + 1]; ++t) {
      for (int64_t j = a.spans[t].begin; j < a.spans[t].end; ++j) {
        inside[size_t(j)] = 1;
        visual[size_t(j)] = a.spans[t].visual != 0;
      }
    }
    const bool visual_query = a.visual_query && a.visual_query[i];
    for (int64_t h = 0; h < H; ++h) {
      const VisualKeys mode = a.head_mode ? a.head_mode[h] : VisualKeys::Live;
      float* out = a.out + i * a.ldo + h * d;
      if (visual_query && mode != VisualKeys::Live) {
        std::fill(out, out + d, 0.0f);
        continue;
      }
      const int64_t kvh = h / group;
      for (int64_t j = 0; j < n_kv; ++j) {
        double dot = 0.0;
        for (int64_t t = 0; t < d; ++t)
          dot += double(a.q[i * a.ldq + h * d + t]) * a.k[j * a.ldkv + kvh * d + t];
        score[size_t(j)] = inside[size_t(j)] ? dot * a.scale : -INFINITY;
      }
      // Softmax over the whole row.
      double mx = -INFINITY;
      for (int64_t j = 0; j < n_kv; ++j) mx = std::max(mx, score[size_t(j)]);
      double sum = 0.0;
      for (int64_t j = 0; j < n_kv; ++j) sum += std::exp(score[size_t(j)] - mx);
      for (int64_t j = 0; j < n_kv; ++j) weight[size_t(j)] = std::exp(score[size_t(j)] - mx) / sum;
      if (mode != VisualKeys::Live) {
        // Dead: visual weights times 0. Excluded: visual weights dropped, the rest renormalized.
        double kept = 0.0;
        bool any_text = false;
        for (int64_t j = 0; j < n_kv; ++j) {
          if (inside[size_t(j)] && visual[size_t(j)]) weight[size_t(j)] = 0.0;
          if (inside[size_t(j)] && !visual[size_t(j)]) any_text = true;
          kept += weight[size_t(j)];
        }
        if (!any_text) {
          std::fill(out, out + d, 0.0f);
          continue;
        }
        if (mode == VisualKeys::Excluded)
          for (double& w : weight) w /= kept;
      }
      for (int64_t t = 0; t < d; ++t) {
        double acc = 0.0;
        for (int64_t j = 0; j < n_kv; ++j) acc += weight[size_t(j)] * a.v[j * a.ldkv + kvh * d + t];
        out[t] = float(acc);
      }
    }
  }
}

}  // namespace yopo::ops::ref
