#include "models/token_ranking.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace yopo::tokens {

std::vector<double> head_mean_attention(const float* q, int64_t nq, int64_t ldq,
                                        const int64_t* limit, const float* k, int64_t n_keys,
                                        int64_t ldk, const ops::AttentionShape& shape,
                                        float scale) {
  const int64_t H = shape.n_heads, hd = shape.head_dim, group = H / shape.n_kv_heads;
  std::vector<double> out(size_t(nq * n_keys), 0.0), s(static_cast<size_t>(n_keys));
  for (int64_t i = 0; i < nq; ++i) {
    const int64_t nk = std::min(limit[i], n_keys);
    double* o = &out[size_t(i * n_keys)];
    for (int64_t h = 0; h < H; ++h) {
      const float* qh = q + i * ldq + h * hd;
      double mx = -INFINITY;
      for (int64_t j = 0; j < nk; ++j) {
        const float* kh = k + j * ldk + (h / group) * hd;
        double dot = 0;
        for (int64_t c = 0; c < hd; ++c) dot += double(qh[c]) * double(kh[c]);
        s[size_t(j)] = dot * double(scale);
        mx = std::max(mx, s[size_t(j)]);
      }
      double sum = 0;
      for (int64_t j = 0; j < nk; ++j) sum += (s[size_t(j)] = std::exp(s[size_t(j)] - mx));
      for (int64_t j = 0; j < nk; ++j) o[j] += s[size_t(j)] / sum / double(H);
    }
  }
  return out;
}

std::vector<int64_t> top_k(const std::vector<double>& scores, int64_t k) {
  std::vector<int64_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), int64_t(0));
  k = std::clamp<int64_t>(k, 0, int64_t(idx.size()));
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t a, int64_t b) {
    if (scores[size_t(a)] != scores[size_t(b)]) return scores[size_t(a)] > scores[size_t(b)];
    return a < b;
  });
  idx.resize(size_t(k));
  return idx;
}

std::vector<int64_t> sparsevlm_raters(const float* visual, int64_t nv, const float* text,
                                      int64_t nt, int64_t dim, int64_t ld) {
  std::vector<double> score(size_t(nt), 0.0), row(static_cast<size_t>(nt));
  for (int64_t i = 0; i < nv; ++i) {
    double mx = -INFINITY;
    for (int64_t j = 0; j < nt; ++j) {
      double dot = 0;
      for (int64_t c = 0; c < dim; ++c)
        dot += double(visual[i * ld + c]) * double(text[j * ld + c]);
      row[size_t(j)] = dot;
      mx = std::max(mx, dot);
    }
    double sum = 0;
    for (int64_t j = 0; j < nt; ++j) sum += (row[size_t(j)] = std::exp(row[size_t(j)] - mx));
    for (int64_t j = 0; j < nt; ++j) score[size_t(j)] += row[size_t(j)] / sum / double(nv);
  }
  double mean = 0;
  for (double v : score) mean += v / double(nt);
  std::vector<int64_t> raters;
  for (int64_t j = 0; j < nt; ++j)
    if (score[size_t(j)] > mean) raters.push_back(j);
  return raters;
}

std::vector<float> cluster_merge(const float* x, int64_t n, int64_t dim, int64_t ld,
                                 int64_t clusters) {
  clusters = std::clamp<int64_t>(clusters, 1, n);
  std::vector<double> dist(size_t(n * n), 0.0);
  // Rows widened to double once; each pair's squared distance is summed in kLanes interleaved
  // partial sums (vectorizable; the same for every thread count), pairs spread over threads.
  constexpr int64_t kLanes = 8;
  std::vector<double> xd(static_cast<size_t>(n * dim));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < dim; ++c) xd[size_t(i * dim + c)] = double(x[i * ld + c]);
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t i = 0; i < n; ++i) {
    const double* a = &xd[size_t(i * dim)];
    for (int64_t j = i + 1; j < n; ++j) {
      const double* b = &xd[size_t(j * dim)];
      double part[kLanes] = {};
      int64_t c = 0;
      for (; c + kLanes <= dim; c += kLanes)
        for (int64_t u = 0; u < kLanes; ++u) {
          const double e = a[c + u] - b[c + u];
          part[u] += e * e;
        }
      for (; c < dim; ++c) {
        const double e = a[c] - b[c];
        part[0] += e * e;
      }
      double sq = 0;
      for (const double v : part) sq += v;
      const double dd = std::sqrt(sq) / std::sqrt(double(dim));
      dist[size_t(i * n + j)] = dist[size_t(j * n + i)] = dd;
    }
  }
  double dmax = 0;
  for (const double v : dist) dmax = std::max(dmax, v);
  // Local density from the `clusters` nearest rows (itself included).
  std::vector<double> density(static_cast<size_t>(n)), row(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(&dist[size_t(i * n)], n, row.begin());
    std::partial_sort(row.begin(), row.begin() + clusters, row.end());
    double m = 0;
    for (int64_t t = 0; t < clusters; ++t) m += row[size_t(t)] * row[size_t(t)];
    density[size_t(i)] = std::exp(-m / double(clusters));
  }
  auto denser = [&](int64_t j, int64_t i) {
    return density[size_t(j)] > density[size_t(i)] ||
           (density[size_t(j)] == density[size_t(i)] && j < i);
  };
  std::vector<double> score(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double delta = dmax;
    for (int64_t j = 0; j < n; ++j)
      if (denser(j, i)) delta = std::min(delta, dist[size_t(i * n + j)]);
    score[size_t(i)] = delta * density[size_t(i)];
  }
  const std::vector<int64_t> centers = top_k(score, clusters);
  std::vector<int64_t> member_of(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t c = 1; c < clusters; ++c)
      if (dist[size_t(centers[size_t(c)] * n + i)] < dist[size_t(centers[size_t(best)] * n + i)])
        best = c;
    member_of[size_t(i)] = best;
  }
  for (int64_t c = 0; c < clusters; ++c) member_of[size_t(centers[size_t(c)])] = c;
  std::vector<double> acc(size_t(clusters * dim), 0.0);
  std::vector<int64_t> count(static_cast<size_t>(clusters), 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = member_of[size_t(i)];
    ++count[size_t(c)];
    for (int64_t t = 0; t < dim; ++t) acc[size_t(c * dim + t)] += double(x[i * ld + t]);
  }
  std::vector<float> out(size_t(clusters * dim));
  for (int64_t c = 0; c < clusters; ++c)
    for (int64_t t = 0; t < dim; ++t)
      out[size_t(c * dim + t)] = float(acc[size_t(c * dim + t)] / double(count[size_t(c)]));
  return out;
}

}  // namespace yopo::tokens
