#include "support/token_reference.h"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <limits>

namespace yopo::test {

namespace {

struct Row {
  std::vector<double> x;
  int64_t pos = 0;
  bool visual = false;
  int64_t src = -1;  // prompt / sequence index; -1 for a merged row
};

// Indices of `scores` sorted by (score descending, index ascending).
std::vector<int64_t> ranking(const std::vector<double>& scores) {
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < int64_t(scores.size()); ++i) idx.push_back(i);
  std::sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
    return scores[static_cast<size_t>(a)] > scores[static_cast<size_t>(b)] ||
           (scores[static_cast<size_t>(a)] == scores[static_cast<size_t>(b)] && a < b);
  });
  return idx;
}

// Density-peak k-NN clustering of the given vectors into k clusters; cluster means in center
// order (the order of the centers' scores).
std::vector<std::vector<double>> dpc_knn(const std::vector<std::vector<double>>& xs, int64_t k) {
  const int64_t N = int64_t(xs.size()), C = int64_t(xs[0].size());
  std::vector<std::vector<double>> dist(static_cast<size_t>(N), std::vector<double>(static_cast<size_t>(N)));
  double dmax = 0;
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t c = 0; c < C; ++c)
        s += std::pow(xs[static_cast<size_t>(i)][static_cast<size_t>(c)] - xs[static_cast<size_t>(j)][static_cast<size_t>(c)], 2);
      dist[static_cast<size_t>(i)][static_cast<size_t>(j)] = std::sqrt(s) / std::sqrt(double(C));
      dmax = std::max(dmax, dist[static_cast<size_t>(i)][static_cast<size_t>(j)]);
    }
  std::vector<double> density(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    std::vector<double> d = dist[static_cast<size_t>(i)];
    std::sort(d.begin(), d.end());
    double m = 0;
    for (int64_t t = 0; t < k; ++t) m += d[static_cast<size_t>(t)] * d[static_cast<size_t>(t)];
    density[static_cast<size_t>(i)] = std::exp(-m / double(k));
  }
  std::vector<double> score(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    double delta = dmax;
    for (int64_t j = 0; j < N; ++j) {
      const bool denser = density[static_cast<size_t>(j)] > density[static_cast<size_t>(i)] ||
                          (density[static_cast<size_t>(j)] == density[static_cast<size_t>(i)] && j < i);
      if (denser) delta = std::min(delta, dist[static_cast<size_t>(i)][static_cast<size_t>(j)]);
    }
    score[static_cast<size_t>(i)] = delta * density[static_cast<size_t>(i)];
  }
  std::vector<int64_t> centers = ranking(score);
  centers.resize(static_cast<size_t>(k));
  std::vector<std::vector<double>> sum(static_cast<size_t>(k), std::vector<double>(static_cast<size_t>(C), 0.0));
  std::vector<int64_t> count(static_cast<size_t>(k), 0);
  for (int64_t i = 0; i < N; ++i) {
    int64_t best = -1;
    for (int64_t c = 0; c < k; ++c)
      if (centers[static_cast<size_t>(c)] == i) best = c;
    if (best < 0) {
      best = 0;
      for (int64_t c = 1; c < k; ++c)
        if (dist[static_cast<size_t>(centers[static_cast<size_t>(c)])][static_cast<size_t>(i)] <
            dist[static_cast<size_t>(centers[static_cast<size_t>(best)])][static_cast<size_t>(i)])
          best = c;
    }
    ++count[static_cast<size_t>(best)];
    for (int64_t c = 0; c < C; ++c) sum[static_cast<size_t>(best)][static_cast<size_t>(c)] += xs[static_cast<size_t>(i)][static_cast<size_t>(c)];
  }
  for (int64_t c = 0; c < k; ++c)
    for (double& v : sum[static_cast<size_t>(c)]) v /= double(count[static_cast<size_t>(c)]);
  return sum;
}

}  // namespace

TokenReferenceRun token_reference(const RandomLlama& m, const float* emb, int64_t n,
                                  int64_t n_prompt, const VisualSegment& image,
                                  const TokenPruning& tp) {
  const LlamaConfig& c = m.cfg;
  const int64_t d = c.dim, H = c.n_heads, KV = c.n_kv_heads, hd = c.head_dim, qd = H * hd,
                kvd = KV * hd, f = c.ffn_dim, V = c.vocab_size, group = H / KV;
  const double eps = double(c.norm_eps), scale = 1.0 / std::sqrt(double(hd));
  TokenReferenceRun out;

  std::vector<Row> rows(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    rows[static_cast<size_t>(i)].x.assign(emb + i * d, emb + (i + 1) * d);
    rows[static_cast<size_t>(i)].pos = i;
    rows[static_cast<size_t>(i)].visual = i >= image.start && i < image.end();
    rows[static_cast<size_t>(i)].src = i;
  }
  const int64_t n0 = image.size();

  // SparseVLM raters from the input rows: text after the image within the prompt.
  if (tp.method == TokenMethod::SparseVLM) {
    const int64_t t0 = image.end(), nt = n_prompt - t0;
    std::vector<double> sc(static_cast<size_t>(nt), 0.0);
    for (int64_t i = image.start; i < image.end(); ++i) {
      std::vector<double> e(static_cast<size_t>(nt));
      double mx = -1e300, sum = 0;
      for (int64_t j = 0; j < nt; ++j) {
        double dot = 0;
        for (int64_t k = 0; k < d; ++k)
          dot += rows[static_cast<size_t>(i)].x[static_cast<size_t>(k)] * rows[static_cast<size_t>(t0 + j)].x[static_cast<size_t>(k)];
        e[static_cast<size_t>(j)] = dot;
        mx = std::max(mx, dot);
      }
      for (double& v : e) sum += (v = std::exp(v - mx));
      for (int64_t j = 0; j < nt; ++j) sc[static_cast<size_t>(j)] += e[static_cast<size_t>(j)] / sum / double(n0);
    }
    double mean = 0;
    for (double v : sc) mean += v;
    mean /= double(nt);
    for (int64_t j = 0; j < nt; ++j)
      if (sc[static_cast<size_t>(j)] > mean) out.raters.push_back(t0 + j);
    if (out.raters.empty())
      for (int64_t j = 0; j < nt; ++j) out.raters.push_back(t0 + j);
  }

  std::vector<double> attn;  // head-mean attention map of the previous layer [rows x rows]
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const RandomLlamaLayer& L = m.layers[static_cast<size_t>(l)];
    int64_t stage = -1;
    for (size_t s = 0; s < tp.stages.size(); ++s)
      if (tp.stages[s].layer == l) stage = int64_t(s);
    const int64_t N = int64_t(rows.size());
    auto index_of_src = [&](int64_t src) {
      for (int64_t i = 0; i < N; ++i)
        if (rows[static_cast<size_t>(i)].src == src) return i;
      return int64_t(-1);
    };
    if (stage >= 0) {
      std::vector<int64_t> vis;  // list indices of visual rows
      for (int64_t i = 0; i < N; ++i)
        if (rows[static_cast<size_t>(i)].visual) vis.push_back(i);
      const int64_t v = int64_t(vis.size());
      std::vector<double> score(static_cast<size_t>(v), 0.0);
      const int64_t qlast = index_of_src(n_prompt - 1);
      if (tp.method == TokenMethod::FastV) {
        for (int64_t j = 0; j < v; ++j) score[static_cast<size_t>(j)] = attn[static_cast<size_t>(qlast * N + vis[static_cast<size_t>(j)])];
      } else if (tp.method == TokenMethod::SparseVLM) {
        for (int64_t r : out.raters) {
          const int64_t qi = index_of_src(r);
          for (int64_t j = 0; j < v; ++j)
            score[static_cast<size_t>(j)] += attn[static_cast<size_t>(qi * N + vis[static_cast<size_t>(j)])] / double(out.raters.size());
        }
      } else {  // PyramidDrop: light attention of this layer, query = last prompt row
        std::vector<double> h(static_cast<size_t>(d)), q(static_cast<size_t>(qd)), k(static_cast<size_t>((qlast + 1) * kvd));
        for (int64_t i = 0; i <= qlast; ++i) {
          rms_norm(rows[static_cast<size_t>(i)].x.data(), L.attn_norm, d, eps, h.data());
          matvec(L.wk, kvd, d, h.data(), &k[static_cast<size_t>(i * kvd)]);
          for (int64_t g = 0; g < KV; ++g)
            rope(&k[static_cast<size_t>(i * kvd + g * hd)], hd, rows[static_cast<size_t>(i)].pos, c.rope_theta);
          if (i == qlast) {
            matvec(L.wq, qd, d, h.data(), q.data());
            for (int64_t hh = 0; hh < H; ++hh)
              rope(&q[static_cast<size_t>(hh * hd)], hd, rows[static_cast<size_t>(i)].pos, c.rope_theta);
          }
        }
        for (int64_t hh = 0; hh < H; ++hh) {
          std::vector<double> p(static_cast<size_t>(qlast + 1));
          double mx = -1e300, sum = 0;
          for (int64_t j = 0; j <= qlast; ++j) {
            double s = 0;
            for (int64_t e = 0; e < hd; ++e)
              s += q[static_cast<size_t>(hh * hd + e)] * k[static_cast<size_t>(j * kvd + (hh / group) * hd + e)];
            p[static_cast<size_t>(j)] = s * scale;
            mx = std::max(mx, p[static_cast<size_t>(j)]);
          }
          for (double& x : p) sum += (x = std::exp(x - mx));
          for (int64_t j = 0; j < v; ++j)
            score[static_cast<size_t>(j)] += p[static_cast<size_t>(vis[static_cast<size_t>(j)])] / sum / double(H);
        }
      }
      const TokenStage& st = tp.stages[static_cast<size_t>(stage)];
      int64_t keep = 0;
      if (tp.method == TokenMethod::FastV) {
        std::fesetround(FE_TONEAREST);
        keep = int64_t(std::nearbyint(double(v) * st.ratio));  // ties to even, as Python's round
      } else if (tp.method == TokenMethod::PDrop) {
        keep = int64_t(std::floor(double(n0) * st.ratio));
      } else {
        keep = std::min(st.keep, v - 1);
      }
      const std::vector<int64_t> order = ranking(score);
      std::vector<bool> kept(static_cast<size_t>(v), false);
      for (int64_t t = 0; t < keep; ++t) kept[static_cast<size_t>(order[static_cast<size_t>(t)])] = true;
      std::vector<int64_t> kept_src;
      for (int64_t j = 0; j < v; ++j)
        if (kept[static_cast<size_t>(j)]) kept_src.push_back(rows[static_cast<size_t>(vis[static_cast<size_t>(j)])].src);
      out.kept.push_back(kept_src);
      std::vector<std::vector<double>> merged;
      if (tp.method == TokenMethod::SparseVLM && keep < v) {
        std::vector<double> del_score;
        std::vector<int64_t> del;
        for (int64_t j = 0; j < v; ++j)
          if (!kept[static_cast<size_t>(j)]) {
            del.push_back(vis[static_cast<size_t>(j)]);
            del_score.push_back(score[static_cast<size_t>(j)]);
          }
        const int64_t take =
            std::min<int64_t>(int64_t(double(del.size()) * 0.3) + 1, int64_t(del.size()));
        const std::vector<int64_t> o = ranking(del_score);
        std::vector<std::vector<double>> xs;
        for (int64_t t = 0; t < take; ++t) xs.push_back(rows[static_cast<size_t>(del[static_cast<size_t>(o[static_cast<size_t>(t)])])].x);
        merged = dpc_knn(xs, take / 10 + 1);
      }
      std::vector<Row> next;
      int64_t last_kept = -1;
      for (int64_t i = 0; i < N; ++i) {
        const Row& r = rows[static_cast<size_t>(i)];
        if (r.visual) {
          const int64_t j = int64_t(std::find(vis.begin(), vis.end(), i) - vis.begin());
          if (!kept[static_cast<size_t>(j)]) continue;
        }
        next.push_back(r);
        if (r.visual) last_kept = int64_t(next.size());
      }
      if (!merged.empty()) {
        if (last_kept < 0) last_kept = image.start;  // (every visual row dropped)
        for (size_t t = 0; t < merged.size(); ++t) {
          Row mr;
          mr.x = merged[t];
          mr.visual = true;
          next.insert(next.begin() + last_kept + int64_t(t), mr);
        }
      }
      rows.swap(next);
      if (tp.method != TokenMethod::FastV)
        for (size_t i = 0; i < rows.size(); ++i) rows[i].pos = int64_t(i);
    }

    // The layer over the list: full causal attention in list order.
    const int64_t M = int64_t(rows.size());
    int64_t nvis = 0;
    for (const Row& r : rows) nvis += r.visual ? 1 : 0;
    out.visual_rows.push_back(nvis);
    std::vector<double> h(static_cast<size_t>(d)), q(static_cast<size_t>(M * qd)), k(static_cast<size_t>(M * kvd)), vv(static_cast<size_t>(M * kvd));
    for (int64_t i = 0; i < M; ++i) {
      rms_norm(rows[static_cast<size_t>(i)].x.data(), L.attn_norm, d, eps, h.data());
      matvec(L.wq, qd, d, h.data(), &q[static_cast<size_t>(i * qd)]);
      matvec(L.wk, kvd, d, h.data(), &k[static_cast<size_t>(i * kvd)]);
      matvec(L.wv, kvd, d, h.data(), &vv[static_cast<size_t>(i * kvd)]);
      for (int64_t hh = 0; hh < H; ++hh)
        rope(&q[static_cast<size_t>(i * qd + hh * hd)], hd, rows[static_cast<size_t>(i)].pos, c.rope_theta);
      for (int64_t g = 0; g < KV; ++g)
        rope(&k[static_cast<size_t>(i * kvd + g * hd)], hd, rows[static_cast<size_t>(i)].pos, c.rope_theta);
    }
    attn.assign(static_cast<size_t>(M * M), 0.0);
    std::vector<std::vector<double>> res(static_cast<size_t>(M), std::vector<double>(static_cast<size_t>(d), 0.0));
    std::vector<double> att(static_cast<size_t>(qd)), o(static_cast<size_t>(d)), p(static_cast<size_t>(M));
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t hh = 0; hh < H; ++hh) {
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j <= i; ++j) {
          double s = 0;
          for (int64_t e = 0; e < hd; ++e)
            s += q[static_cast<size_t>(i * qd + hh * hd + e)] * k[static_cast<size_t>(j * kvd + (hh / group) * hd + e)];
          p[static_cast<size_t>(j)] = s * scale;
          mx = std::max(mx, p[static_cast<size_t>(j)]);
        }
        for (int64_t j = 0; j <= i; ++j) sum += (p[static_cast<size_t>(j)] = std::exp(p[static_cast<size_t>(j)] - mx));
        std::fill(&att[static_cast<size_t>(hh * hd)], &att[static_cast<size_t>(hh * hd)] + hd, 0.0);
        for (int64_t j = 0; j <= i; ++j) {
          const double pj = p[static_cast<size_t>(j)] / sum;
          attn[static_cast<size_t>(i * M + j)] += pj / double(H);
          for (int64_t e = 0; e < hd; ++e)
            att[static_cast<size_t>(hh * hd + e)] += pj * vv[static_cast<size_t>(j * kvd + (hh / group) * hd + e)];
        }
      }
      matvec(L.wo, d, qd, att.data(), res[static_cast<size_t>(i)].data());
    }
    std::vector<double> gate(static_cast<size_t>(f)), up(static_cast<size_t>(f));
    for (int64_t i = 0; i < M; ++i) {
      double* xi = rows[static_cast<size_t>(i)].x.data();
      for (int64_t e = 0; e < d; ++e) xi[e] += res[static_cast<size_t>(i)][static_cast<size_t>(e)];
      rms_norm(xi, L.ffn_norm, d, eps, h.data());
      matvec(L.w_gate, f, d, h.data(), gate.data());
      matvec(L.w_up, f, d, h.data(), up.data());
      for (int64_t u = 0; u < f; ++u)
        gate[static_cast<size_t>(u)] = gate[static_cast<size_t>(u)] / (1.0 + std::exp(-gate[static_cast<size_t>(u)])) * up[static_cast<size_t>(u)];
      matvec(L.w_down, d, f, gate.data(), o.data());
      for (int64_t e = 0; e < d; ++e) xi[e] += o[static_cast<size_t>(e)];
    }
  }
  std::vector<double> h(static_cast<size_t>(d));
  out.logits.assign(static_cast<size_t>(V), 0.0);
  rms_norm(rows.back().x.data(), m.output_norm, d, eps, h.data());
  matvec(m.output, V, d, h.data(), out.logits.data());
  (void)std::numeric_limits<double>::max();
  return out;
}

}  // namespace yopo::test
