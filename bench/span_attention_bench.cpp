// Micro-benchmark of attention_spans (not built by CMake). Build against a Release build dir:
//   g++ -std=c++20 -O3 -march=x86-64-v3 -fopenmp -Isrc bench/span_attention_bench.cpp
//       build-spans/libyopo.a -ldnnl -o /tmp/span_bench && OMP_NUM_THREADS=2 /tmp/span_bench
// (a) dense causal prefill through spans vs attention_causal; (b) windowed visual attention
// (radius 2 on a side x side grid after a 35-token text prefix): time per visual query should
// not depend on the grid size. Each is run with the AVX2 and (when present) AVX-512 paths.
// Times: best of several runs, process CPU time (summed over threads) and wall time.
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "ops/attention.h"
#include "ops/context.h"
#include "ops/span_attention.h"

using namespace yopo;
using namespace yopo::ops;

namespace {

std::vector<float> randv(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

double cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
double wall_now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Timing {
  double cpu = 1e30, wall = 1e30;
};

// Best of several runs of f: process CPU seconds (all threads together; on a shared, loaded
// machine far steadier than wall time, but it includes OpenMP's spin-waiting, which dominates
// calls of a few milliseconds) and wall seconds.
template <class F>
Timing best_seconds(F&& f, int reps, double min_total = 0.5) {
  f();
  Timing best;
  double total = 0;
  for (int r = 0; r < reps || total < min_total; ++r) {
    const double c0 = cpu_now(), w0 = wall_now();
    f();
    const double c = cpu_now() - c0, w = wall_now() - w0;
    best.cpu = std::min(best.cpu, c);
    best.wall = std::min(best.wall, w);
    total += c;
    if (r > 100) break;
  }
  return best;
}

struct SpanList {
  std::vector<int32_t> offsets{0};
  std::vector<KeySpan> spans;
  std::vector<uint8_t> visual_query;
  void add(const std::vector<KeySpan>& s, bool visual) {
    spans.insert(spans.end(), s.begin(), s.end());
    offsets.push_back(int32_t(spans.size()));
    visual_query.push_back(visual);
  }
};

SpanAttentionArgs args_for(const SpanList& sl, const std::vector<float>& q,
                           const std::vector<float>& k, const std::vector<float>& v,
                           std::vector<float>& out, AttentionShape sh, const VisualKeys* modes) {
  SpanAttentionArgs a;
  a.q = q.data();
  a.n_q = int64_t(sl.visual_query.size());
  a.ldq = sh.n_heads * sh.head_dim;
  a.k = k.data();
  a.v = v.data();
  a.ldkv = sh.n_kv_heads * sh.head_dim;
  a.shape = sh;
  a.scale = 1.0f / std::sqrt(float(sh.head_dim));
  a.span_offsets = sl.offsets.data();
  a.spans = sl.spans.data();
  a.head_mode = modes;
  a.visual_query = sl.visual_query.data();
  a.out = out.data();
  a.ldo = a.ldq;
  return a;
}

// n_q queries at the end of n_kv rows, causal, through attention_causal and attention_spans.
void bench_causal(Context& ctx, int64_t n_q, int64_t n_kv, AttentionShape sh) {
  const int64_t qw = sh.n_heads * sh.head_dim, kvw = sh.n_kv_heads * sh.head_dim;
  const int64_t q_start = n_kv - n_q;
  const std::vector<float> q = randv(size_t(n_q * qw), 1), k = randv(size_t(n_kv * kvw), 2),
                           v = randv(size_t(n_kv * kvw), 3);
  std::vector<float> out(size_t(n_q * qw));
  SpanList sl;
  for (int64_t i = 0; i < n_q; ++i) sl.add({{0, int32_t(q_start + i + 1), 0}}, false);
  const SpanAttentionArgs a = args_for(sl, q, k, v, out, sh, nullptr);
  const Timing t_causal = best_seconds(
      [&] {
        attention_causal(ctx, q.data(), n_q, qw, q_start, k.data(), v.data(), n_kv, kvw, sh,
                         a.scale, out.data(), qw);
      },
      5);
  const Timing t_spans = best_seconds([&] { attention_spans(ctx, a); }, 5);
  const SpanAttentionWork w = attention_spans_work(a);
  const double flops = 2.0 * double(sh.head_dim) * (w.scores + w.value_terms);
  std::printf(
      "causal n_q=%-4ld n_kv=%-4ld heads %ld/%ld d %ld: attention_causal cpu %8.3f ms (%5.1f "
      "GFLOP/s) wall %8.3f ms | attention_spans cpu %8.3f ms (%5.1f GFLOP/s) wall %8.3f ms | "
      "cpu ratio %.2f\n",
      n_q, n_kv, sh.n_heads, sh.n_kv_heads, sh.head_dim, t_causal.cpu * 1e3,
      flops / t_causal.cpu / 1e9, t_causal.wall * 1e3, t_spans.cpu * 1e3, flops / t_spans.cpu / 1e9,
      t_spans.wall * 1e3, t_spans.cpu / t_causal.cpu);
}

// The visual queries of a prompt [35 text | side x side visual] with a radius-r window.
void bench_window(Context& ctx, int64_t side, int64_t radius, AttentionShape sh,
                  const VisualKeys* modes, const char* note) {
  const int64_t prefix = 35, n_vis = side * side, n_kv = prefix + n_vis;
  const int64_t qw = sh.n_heads * sh.head_dim, kvw = sh.n_kv_heads * sh.head_dim;
  SpanList sl;
  for (int64_t r = 0; r < side; ++r) {
    for (int64_t c = 0; c < side; ++c) {
      std::vector<KeySpan> s{{0, int32_t(prefix), 0}};
      for (int64_t rr = std::max<int64_t>(0, r - radius); rr <= std::min(side - 1, r + radius);
           ++rr) {
        const int64_t c0 = std::max<int64_t>(0, c - radius), c1 = std::min(side - 1, c + radius);
        s.push_back({int32_t(prefix + rr * side + c0), int32_t(prefix + rr * side + c1 + 1), 1});
      }
      sl.add(s, true);
    }
  }
  const std::vector<float> q = randv(size_t(n_vis * qw), 4), k = randv(size_t(n_kv * kvw), 5),
                           v = randv(size_t(n_kv * kvw), 6);
  std::vector<float> out(size_t(n_vis * qw));
  const SpanAttentionArgs a = args_for(sl, q, k, v, out, sh, modes);
  const Timing t = best_seconds([&] { attention_spans(ctx, a); }, 5);
  const SpanAttentionWork w = attention_spans_work(a);
  const double flops = 2.0 * double(sh.head_dim) * (w.scores + w.value_terms);
  std::printf(
      "window %2ldx%-2ld r=%ld (%4ld visual queries) %-10s cpu %8.3f ms %6.2f us/query %5.1f "
      "GFLOP/s | wall %8.3f ms %6.2f us/query\n",
      side, side, radius, n_vis, note, t.cpu * 1e3, t.cpu / double(n_vis) * 1e6,
      flops / t.cpu / 1e9, t.wall * 1e3, t.wall / double(n_vis) * 1e6);
}

}  // namespace

int main() {
  Context ctx;
  const AttentionShape llava{32, 32, 128};
  for (bool avx512 : {false, true}) {
    ctx.set_avx512(avx512);
    std::printf("threads %d, AVX-512 paths %s\n", ctx.threads(), ctx.avx512() ? "on" : "off");
    bench_causal(ctx, 640, 640, llava);
    bench_causal(ctx, 640, 640, {32, 8, 128});
    bench_causal(ctx, 1, 640, llava);
    bench_causal(ctx, 1, 2048, {32, 8, 128});
    for (int64_t side : {24, 34, 48, 68}) bench_window(ctx, side, 2, llava, nullptr, "all live");
    std::vector<VisualKeys> half(32, VisualKeys::Live);
    for (int h = 0; h < 16; ++h) half[size_t(h)] = VisualKeys::Dead;
    for (int64_t side : {24, 68}) bench_window(ctx, side, 2, llava, half.data(), "half dead");
  }
}
