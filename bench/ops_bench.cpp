// Micro-benchmark of the ops kernels (not built by CMake). From the repository root, after a
// Release build in build-ops:
//   g++ -std=c++20 -O3 -march=x86-64-v3 -fopenmp -Isrc bench/ops_bench.cpp build-ops/libyopo.a
//       -ldnnl -o /tmp/ops_bench
//   OMP_NUM_THREADS=2 /tmp/ops_bench [matmul] [small] [attention] [act] [norm]
// matmul: the M=600/K=4096/N=11008 and M=1 shapes in bf16 and f32; small: the engine's small-M
// kernel against oneDNN for M = 1..32; attention: prefill and decode shapes; act: silu_mul and
// softmax; norm: rms_norm (576 x 4096, LLaVA-1.5-7B's visual rows) and layer_norm (577 x 1024,
// CLIP ViT-L/14-336) on 1 thread and on the context's threads. Each figure is the best of several
// runs.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ops/activations.h"
#include "ops/attention.h"
#include "ops/context.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/weights.h"

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

template <class F>
double best_seconds(F&& f, int reps, double min_total = 0.5) {
  f();  // warm-up (primitive creation, page faults)
  double best = 1e30, total = 0;
  for (int r = 0; r < reps || total < min_total; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, s);
    total += s;
    if (r > 200) break;
  }
  return best;
}

void bench_matmul(Context& ctx, int64_t M, int64_t K, int64_t N, DType dt, const char* note = "") {
  const std::vector<float> wf = randv(size_t(N * K), 1);
  const WeightMatrix w = WeightMatrix::from_f32(wf.data(), N, K, dt);
  const std::vector<float> x = randv(size_t(M * K), 2);
  std::vector<float> y(size_t(M * N));
  const double s =
      best_seconds([&] { matmul(ctx, x.data(), M, K, w.full(), y.data(), N); }, M == 1 ? 20 : 5);
  const double wbytes = double(N * K) * (dt == DType::BF16 ? 2 : 4);
  std::printf("matmul %-4s M=%-4ld K=%-5ld N=%-6ld %9.3f ms %8.1f GFLOP/s %6.1f GB/s(W) %s\n",
              dtype_name(dt), M, K, N, s * 1e3, 2.0 * M * N * K / s / 1e9, wbytes / s / 1e9, note);
}

void bench_attention(Context& ctx, int64_t n_q, int64_t n_kv, AttentionShape sh) {
  const int64_t qw = sh.n_heads * sh.head_dim, kvw = sh.n_kv_heads * sh.head_dim;
  const std::vector<float> q = randv(size_t(n_q * qw), 3), k = randv(size_t(n_kv * kvw), 4),
                           v = randv(size_t(n_kv * kvw), 5);
  std::vector<float> out(size_t(n_q * qw));
  const float scale = 1.0f / std::sqrt(float(sh.head_dim));
  const double s = best_seconds(
      [&] {
        attention_causal(ctx, q.data(), n_q, qw, n_kv - n_q, k.data(), v.data(), n_kv, kvw, sh,
                         scale, out.data(), qw);
      },
      5);
  // Useful flops: two products over the visible (causal) keys.
  double pairs = 0;
  for (int64_t i = 0; i < n_q; ++i) pairs += double(n_kv - n_q + i + 1);
  const double flops = 4.0 * pairs * double(sh.n_heads * sh.head_dim);
  std::printf("attention n_q=%-4ld n_kv=%-5ld heads %ld/%ld d %ld: %8.3f ms %7.1f GFLOP/s\n", n_q,
              n_kv, sh.n_heads, sh.n_kv_heads, sh.head_dim, s * 1e3, flops / s / 1e9);
}

void bench_act() {
  const int64_t n = 600 * 11008;
  std::vector<float> g = randv(size_t(n), 6), u = randv(size_t(n), 7), o(static_cast<size_t>(n));
  double s = best_seconds([&] { silu_mul(g.data(), u.data(), o.data(), n); }, 5);
  std::printf("silu_mul n=%ld: %.3f ms (%.2f ns/elem)\n", n, s * 1e3, s / double(n) * 1e9);
  std::vector<float> row = randv(600, 8);
  s = best_seconds(
      [&] {
        for (int r = 0; r < 1000; ++r) softmax_inplace(row.data(), 600);
      },
      5);
  std::printf("softmax n=600: %.3f us\n", s * 1e3);
}

// rms_norm and layer_norm at LLaVA shapes on 1 thread and on `threads`, with the speed-up.
void bench_norm(int threads) {
  const int64_t rr = 576, rd = 4096, lr = 577, ld = 1024;
  const std::vector<float> rx = randv(size_t(rr * rd), 9), rw = randv(size_t(rd), 10);
  const std::vector<float> lx = randv(size_t(lr * ld), 11), lw = randv(size_t(ld), 12),
                           lb = randv(size_t(ld), 13);
  std::vector<float> ry(rx.size()), ly(lx.size());
  double rs[2], ls[2];
  const int counts[2] = {1, threads};
  for (int i = 0; i < 2; ++i) {
    Context c(counts[i]);
    rs[i] = best_seconds(
        [&] { rms_norm(c, rx.data(), rr, rd, rd, rw.data(), 1e-5f, ry.data(), rd); }, 20);
    ls[i] = best_seconds(
        [&] { layer_norm(c, lx.data(), lr, ld, ld, lw.data(), lb.data(), 1e-5f, ly.data(), ld); },
        20);
  }
  for (int i = 0; i < 2; ++i) {
    std::printf("rms_norm   %ld x %ld, %d thread(s): %8.1f us %6.2f GB/s\n", rr, rd, counts[i],
                rs[i] * 1e6, 2.0 * double(rr * rd) * 4 / rs[i] / 1e9);
    std::printf("layer_norm %ld x %ld, %d thread(s): %8.1f us %6.2f GB/s\n", lr, ld, counts[i],
                ls[i] * 1e6, 2.0 * double(lr * ld) * 4 / ls[i] / 1e9);
  }
  std::printf("speed-up with %d threads: rms_norm %.2fx, layer_norm %.2fx\n", threads,
              rs[0] / rs[1], ls[0] / ls[1]);
}

}  // namespace

int main(int argc, char** argv) {
  Context ctx;
  std::printf("threads %d, avx512-bf16 %d\n", ctx.threads(), int(ctx.avx512()));
  std::vector<std::string> what(argv + 1, argv + argc);
  if (what.empty()) what = {"matmul"};
  for (const std::string& w : what) {
    if (w == "matmul") {
      for (DType dt : {DType::BF16, DType::F32}) {
        bench_matmul(ctx, 600, 4096, 11008, dt);
        bench_matmul(ctx, 1, 4096, 11008, dt);
        bench_matmul(ctx, 1, 11008, 4096, dt);
      }
    } else if (w == "small") {
      for (int64_t M : {1, 2, 3, 4, 6, 8, 12, 16, 32}) {
        for (DType dt : {DType::BF16, DType::F32}) {
          ctx.set_matmul_small_m(1 << 30);
          bench_matmul(ctx, M, 4096, 4096, dt, "own kernel");
          ctx.set_matmul_small_m(0);
          bench_matmul(ctx, M, 4096, 4096, dt, "oneDNN");
        }
      }
      ctx.set_matmul_small_m(kMatmulSmallM);
    } else if (w == "attention") {
      bench_attention(ctx, 600, 600, {32, 32, 128});
      bench_attention(ctx, 1, 600, {32, 32, 128});
      bench_attention(ctx, 1, 2048, {32, 8, 128});
      bench_attention(ctx, 577, 577, {16, 16, 64});
    } else if (w == "act") {
      bench_act();
    } else if (w == "norm") {
      bench_norm(ctx.threads());
    }
  }
}
