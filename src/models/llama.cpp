#include "models/llama.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "ops/activations.h"
#include "ops/attention.h"
#include "ops/matmul.h"
#include "ops/norm.h"

namespace yopo {

LlamaModel::LlamaModel(LlamaConfig cfg, LlamaWeights w)
    : cfg_(std::move(cfg)), w_(std::move(w)),
      rope_(cfg_.head_dim, cfg_.rope_theta, cfg_.rope_scaling, cfg_.max_position) {}

KvCache LlamaModel::make_cache(int64_t capacity) const {
  return KvCache(cfg_.n_layers, capacity, cfg_.n_kv_heads * cfg_.head_dim);
}

void LlamaModel::embed(const int32_t* ids, int64_t n, float* out) const {
  const ops::WeightMatrix& e = w_.embedding;
  for (int64_t i = 0; i < n; ++i) {
    check(ids[i] >= 0 && ids[i] < cfg_.vocab_size, "token id ", ids[i], " is outside the ",
          cfg_.vocab_size, "-token vocabulary");
    float* dst = out + i * cfg_.dim;
    if (e.dtype == DType::BF16) {
      const uint16_t* src = e.data.as<uint16_t>() + int64_t(ids[i]) * e.cols;
      for (int64_t c = 0; c < e.cols; ++c) dst[c] = bf16_to_f32(src[c]);
    } else {
      const float* src = e.data.as<float>() + int64_t(ids[i]) * e.cols;
      std::copy(src, src + e.cols, dst);
    }
  }
}

std::vector<float> LlamaModel::forward(ops::Context& ctx, KvCache& cache,
                                       const DecoderBatch& batch, const DebugHook& hook) const {
  const int64_t n = batch.n, d = cfg_.dim;
  check(n > 0, "decoder batch is empty");
  check(batch.embeddings && batch.positions, "decoder batch lacks embeddings or positions");
  cache.reserve_rows(n);

  std::vector<float> x(batch.embeddings, batch.embeddings + n * d);
  if (hook) hook("inp_embd", -1, x.data(), n, d, d);
  for (int64_t l = 0; l < cfg_.n_layers; ++l)
    layer_forward(ctx, cache, l, x.data(), n, batch.positions, hook);
  cache.commit(n);

  // Final norm and output head over the rows that need logits.
  const int64_t first = batch.all_logits ? 0 : n - 1, rows = n - first;
  std::vector<float> h(size_t(rows * d));
  ops::rms_norm(x.data() + first * d, rows, d, d, w_.output_norm.data(), cfg_.norm_eps, h.data(),
                d);
  if (hook) hook("result_norm", -1, h.data(), rows, d, d);
  std::vector<float> logits(size_t(rows * cfg_.vocab_size));
  const ops::WeightMatrix& out = w_.output_matrix();
  ops::matmul(ctx, h.data(), rows, d, out.full(), logits.data(), cfg_.vocab_size);
  if (hook) hook("result_output", -1, logits.data(), rows, cfg_.vocab_size, cfg_.vocab_size);
  return logits;
}

void LlamaModel::layer_forward(ops::Context& ctx, KvCache& cache, int64_t l, float* x, int64_t n,
                               const int32_t* pos, const DebugHook& hook) const {
  const LlamaLayerWeights& L = w_.layers[size_t(l)];
  const int64_t d = cfg_.dim, hd = cfg_.head_dim, qd = cfg_.n_heads * hd,
                kvd = cfg_.n_kv_heads * hd, m = cfg_.ffn_dim, past = cache.size();
  std::vector<float> h(size_t(n * d)), q(size_t(n * qd)), att(size_t(n * qd));

  // Attention block.
  ops::rms_norm(x, n, d, d, L.attn_norm.data(), cfg_.norm_eps, h.data(), d);
  if (hook) hook("attn_norm", l, h.data(), n, d, d);
  float* k_new = cache.k(l, past);
  float* v_new = cache.v(l, past);
  ops::matmul(ctx, h.data(), n, d, L.wq.full(), q.data(), qd);
  ops::matmul(ctx, h.data(), n, d, L.wk.full(), k_new, kvd);
  ops::matmul(ctx, h.data(), n, d, L.wv.full(), v_new, kvd);
  rope_.apply(q.data(), n, cfg_.n_heads, qd, pos, past + n);
  rope_.apply(k_new, n, cfg_.n_kv_heads, kvd, pos, past + n);
  if (hook) {
    hook("Qcur", l, q.data(), n, qd, qd);
    hook("Kcur", l, k_new, n, kvd, kvd);
    hook("Vcur", l, v_new, n, kvd, kvd);
  }
  const ops::AttentionShape shape{cfg_.n_heads, cfg_.n_kv_heads, hd};
  ops::attention_causal(ctx, q.data(), n, qd, past, cache.k(l), cache.v(l), past + n, kvd, shape,
                        1.0f / std::sqrt(float(hd)), att.data(), qd);
  if (hook) hook("kqv_out", l, att.data(), n, qd, qd);
  ops::matmul(ctx, att.data(), n, qd, L.wo.full(), x, d, /*accumulate=*/true);
  if (hook) hook("ffn_inp", l, x, n, d, d);

  // Feed-forward block (SwiGLU).
  ops::rms_norm(x, n, d, d, L.ffn_norm.data(), cfg_.norm_eps, h.data(), d);
  if (hook) hook("ffn_norm", l, h.data(), n, d, d);
  std::vector<float> gate(size_t(n * m)), up(size_t(n * m));
  ops::matmul(ctx, h.data(), n, d, L.w_gate.full(), gate.data(), m);
  ops::matmul(ctx, h.data(), n, d, L.w_up.full(), up.data(), m);
  ops::silu_mul(gate.data(), up.data(), gate.data(), n * m);
  ops::matmul(ctx, gate.data(), n, m, L.w_down.full(), x, d, /*accumulate=*/true);
  if (hook) hook("l_out", l, x, n, d, d);
}

}  // namespace yopo
