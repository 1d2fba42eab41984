#include "models/llama.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "models/decoder_rows.h"
#include "models/token_run.h"
#include "ops/activations.h"
#include "ops/attention.h"
#include "ops/matmul.h"
#include "ops/norm.h"

namespace yopo {

LlamaModel::LlamaModel(LlamaConfig cfg, LlamaWeights w)
    : cfg_(std::move(cfg)),
      w_(std::move(w)),
      rope_(cfg_.head_dim, cfg_.rope_theta, cfg_.rope_scaling, cfg_.max_position) {}

KvCache LlamaModel::make_cache(int64_t capacity) const {
  return KvCache(cfg_.n_layers, capacity, cfg_.n_kv_heads * cfg_.head_dim);
}

void LlamaModel::embed(const int32_t* ids, int64_t n, float* out) const {
  const ops::WeightMatrix& e = w_.embedding;
  for (int64_t i = 0; i < n; ++i) {
    check(ids[i] >= 0 && ids[i] < cfg_.vocab_size, "token id ", ids[i], " is outside the ",
          cfg_.vocab_size, "-token vocabulary");
    e.row_to_f32(ids[i], out + i * cfg_.dim);  // F32, BF16 or I8 tables alike
  }
}

namespace {

DecoderRows make_rows(const DecoderBatch& b, int64_t dim) {
  DecoderRows r;
  r.n = b.n;
  r.dim = dim;
  r.x.assign(b.embeddings, b.embeddings + b.n * dim);
  r.pos.assign(b.positions, b.positions + b.n);
  r.batch_index.resize(size_t(b.n));
  for (int64_t i = 0; i < b.n; ++i) r.batch_index[size_t(i)] = i;
  r.visual.assign(size_t(b.n), 0);
  if (b.layout) {
    int64_t prev_end = 0;
    for (const VisualSegment& s : b.layout->images) {
      check(s.start >= prev_end && s.end() <= b.n && s.size() > 0, "token layout: image segment [",
            s.start, ", ", s.end(), ") is outside the ", b.n, "-row batch or overlaps another");
      prev_end = s.end();
      r.segments.push_back(s);
      std::fill(r.visual.begin() + s.start, r.visual.begin() + s.end(), uint8_t(1));
    }
  }
  return r;
}

}  // namespace

std::vector<float> LlamaModel::forward(ops::Context& ctx, KvCache& cache, const DecoderBatch& batch,
                                       const DebugHook& hook) const {
  const int64_t n = batch.n, d = cfg_.dim;
  check(n > 0, "decoder batch is empty");
  check(batch.embeddings && batch.positions, "decoder batch lacks embeddings or positions");
  cache.reserve_rows(n);
  if (batch.plan) batch.plan->validate(cfg_.n_layers, cfg_.n_heads, cfg_.ffn_dim);
  const PruningPlan* plan = batch.plan && !batch.plan->is_dense() ? batch.plan : nullptr;

  DecoderRows r = make_rows(batch, d);
  // Hidden states of every batch row after its last layer (rows can leave early).
  std::vector<float> final_x(size_t(n * d));
  if (hook) hook("inp_embd", -1, r.x.data(), n, d, d);
  TokenRun tokens;
  tokens.trace = batch.token_trace;
  if (plan && plan->tokens.active()) token_begin(tokens, r, *plan, batch.flops);
  for (int64_t l = 0; l < cfg_.n_layers; ++l) {
    if (tokens.active()) token_boundary(ctx, cache, l, r, tokens, final_x, batch.flops);
    const LayerPlan* lp = plan ? plan->layer(l) : nullptr;
    if (lp && plan->semantics == PruneSemantics::Fast && !lp->visual_active && r.has_visual()) {
      // Fast semantics: visual rows leave the sequence (and this layer's cache) for good.
      for (int64_t i = 0; i < r.n; ++i)
        if (r.visual[size_t(i)])
          std::copy_n(&r.x[size_t(i * d)], d, &final_x[size_t(r.batch_index[size_t(i)] * d)]);
      r.drop_visual();
    }
    if (lp && !lp->is_dense()) {
      pruned_layer(ctx, cache, l, r, *lp, plan->semantics, batch.flops, hook);
    } else {
      dense_layer(ctx, cache, l, r, batch.flops, hook);
    }
  }
  cache.commit_tokens(n);
  for (int64_t i = 0; i < r.n; ++i)
    if (r.batch_index[size_t(i)] >= 0)  // rows merged by token pruning have no batch row
      std::copy_n(&r.x[size_t(i * d)], d, &final_x[size_t(r.batch_index[size_t(i)] * d)]);

  // Final norm and output head over the rows that need logits.
  const int64_t first = batch.all_logits ? 0 : n - 1, rows = n - first;
  std::vector<float> h(size_t(rows * d));
  ops::rms_norm(ctx, final_x.data() + first * d, rows, d, d, w_.output_norm.data(), cfg_.norm_eps,
                h.data(), d);
  if (hook) hook("result_norm", -1, h.data(), rows, d, d);
  std::vector<float> logits(size_t(rows * cfg_.vocab_size));
  const ops::WeightMatrix& out = w_.output_matrix();
  ops::matmul(ctx, h.data(), rows, d, out.full(), logits.data(), cfg_.vocab_size);
  if (batch.flops) batch.flops->head += 2.0 * double(rows) * double(d) * double(cfg_.vocab_size);
  if (hook) hook("result_output", -1, logits.data(), rows, cfg_.vocab_size, cfg_.vocab_size);
  return logits;
}

void LlamaModel::dense_layer(ops::Context& ctx, KvCache& cache, int64_t l, DecoderRows& r,
                             FlopCounter* flops, const DebugHook& hook) const {
  const LlamaLayerWeights& L = w_.layers[size_t(l)];
  const int64_t n = r.n, d = cfg_.dim, hd = cfg_.head_dim, qd = cfg_.n_heads * hd,
                kvd = cfg_.n_kv_heads * hd, m = cfg_.ffn_dim, past = cache.rows(l);
  float* x = r.x.data();
  const int32_t* pos = r.pos.data();
  std::vector<float> h(size_t(n * d)), q(size_t(n * qd)), att(size_t(n * qd));

  // Attention block.
  ops::rms_norm(ctx, x, n, d, d, L.attn_norm.data(), cfg_.norm_eps, h.data(), d);
  if (hook) hook("attn_norm", l, h.data(), n, d, d);
  float* k_new = cache.k(l, past);
  float* v_new = cache.v(l, past);
  ops::matmul(ctx, h.data(), n, d, L.wq.full(), q.data(), qd);
  ops::matmul(ctx, h.data(), n, d, L.wk.full(), k_new, kvd);
  ops::matmul(ctx, h.data(), n, d, L.wv.full(), v_new, kvd);
  rope_.apply(q.data(), n, cfg_.n_heads, qd, pos, cache.size() + n);
  rope_.apply(k_new, n, cfg_.n_kv_heads, kvd, pos, cache.size() + n);
  if (!r.capture_rows.empty()) {
    r.captured_q.resize(r.capture_rows.size() * size_t(qd));
    for (size_t i = 0; i < r.capture_rows.size(); ++i)
      std::copy_n(&q[size_t(r.capture_rows[i] * qd)], qd, &r.captured_q[i * size_t(qd)]);
  }
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
  ops::rms_norm(ctx, x, n, d, d, L.ffn_norm.data(), cfg_.norm_eps, h.data(), d);
  if (hook) hook("ffn_norm", l, h.data(), n, d, d);
  std::vector<float> gate(size_t(n * m)), up(size_t(n * m));
  ops::matmul(ctx, h.data(), n, d, L.w_gate.full(), gate.data(), m);
  ops::matmul(ctx, h.data(), n, d, L.w_up.full(), up.data(), m);
  ops::silu_mul(gate.data(), up.data(), gate.data(), n * m);
  ops::matmul(ctx, gate.data(), n, m, L.w_down.full(), x, d, /*accumulate=*/true);
  if (hook) hook("l_out", l, x, n, d, d);
  cache.append_rows(l, n, r.segments);

  if (flops) {
    LayerFlops& f = flops->layer(l);
    const double proj = 2.0 * double(d) * double(2 * qd + 2 * kvd);
    const double ffn = 6.0 * double(d) * double(m);
    for (int64_t i = 0; i < n; ++i) {
      FlopParts& p = r.visual[size_t(i)] ? f.visual : f.text;
      p.proj += proj;
      p.ffn += ffn;
      p.attn += 4.0 * double(hd) * double(cfg_.n_heads) * double(past + i + 1);
    }
  }
}

}  // namespace yopo
