// The int8 weight mode on whole decoders: tiny random LLaMAs (tests/support/random_llama.h) with
// per-row int8 projections against the same models in f32 (logits of every prompt row, greedy
// decoding, a pruned plan whose kernels take row and column views of the int8 matrices), and
// load_llama_weights(..., I8) from a tensor file against quantizing the f32 weights directly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/tensor_source.h"
#include "models/llama.h"
#include "models/llama_weights.h"
#include "ops/matmul_int8.h"
#include "support/random_llama.h"

namespace yopo {
namespace {

using test::PromptShape;
using test::RandomLlama;
using test::RandomLlamaSpec;

// The bound on max |logit_int8 - logit_f32| / max |logit_f32| over a prompt.
//
// One product y = sum_k x_k w_k with w = qw sw + ew, x = qx sx + ex, rounding errors uniform in
// half a step: ew has standard deviation sw / sqrt(12), ex sx / sqrt(12). The error
// sum_k (x_k ew_k + ex_k w_k) relative to y's own spread is then about
// sqrt((sw / rms w)^2 + (sx / rms x)^2) / sqrt(12). The step is max / 127; for the random
// models' Gaussian weights over 64..160 inputs max / rms is about 3 (sw / rms w ~ 0.024) and
// for activations at most about 6 after RMSNorm or SiLU(gate) * up (sx / rms x ~ 0.05): about
// 1.5% per product. A layer chains two products on each path (q/k/v then o, gate/up then down),
// and three layers add up errors that are mostly independent: sqrt(6) * 1.5% ~ 4% of the
// logits' spread, and the max over a prompt's logits keeps that ratio (max error and max logit
// both sit ~3 standard deviations out). The bound allows 2.5x that.
// (The bf16 model's figures are printed for scale: it rounds weights and activations to 8
// significant bits, a step about 1/256 of each value where int8's is 1/127 of a row's largest.)
constexpr double kRelBound = 0.10;
constexpr int kDecodeSteps = 16;

struct Shape {
  std::string name;
  RandomLlamaSpec spec;
  PromptShape prompt;
};

std::vector<Shape> shapes() {
  return {{"mha", RandomLlamaSpec{64, 4, 4, 16, 3, 96, 97, 11}, PromptShape{5, 6, 6, 4}},
          {"gqa", RandomLlamaSpec{80, 8, 2, 12, 3, 160, 97, 23}, PromptShape{3, 7, 7, 4}}};
}

LlamaModel int8_model(const RandomLlama& rm) {
  return LlamaModel(rm.cfg, llama_weights_to_int8(rm.engine_weights(DType::F32)));
}

struct ModelRun {
  std::vector<float> prompt_logits;  // [n, vocab]
  std::vector<int32_t> greedy;       // tokens each model picks for itself
};

int32_t argmax(const float* v, int64_t n) {
  return int32_t(std::max_element(v, v + n) - v);
}

ModelRun run(const LlamaModel& model, const std::vector<float>& prompt, int64_t n,
             const TokenLayout& layout, const PruningPlan* plan) {
  const LlamaConfig& c = model.config();
  ops::Context ctx(2);
  KvCache cache = model.make_cache(n + kDecodeSteps);
  std::vector<int32_t> pos(size_t(n + kDecodeSteps));
  std::iota(pos.begin(), pos.end(), 0);
  ModelRun r;
  DecoderBatch b{prompt.data(), n, pos.data(), &layout, true, plan};
  r.prompt_logits = model.forward(ctx, cache, b);
  std::vector<float> logits(r.prompt_logits.end() - c.vocab_size, r.prompt_logits.end());
  std::vector<float> e(size_t(c.dim));
  for (int64_t s = 0; s < kDecodeSteps; ++s) {
    const int32_t next = argmax(logits.data(), c.vocab_size);
    r.greedy.push_back(next);
    model.embed(&next, 1, e.data());
    DecoderBatch step{e.data(), 1, &pos[size_t(n + s)], nullptr, false, plan};
    logits = model.forward(ctx, cache, step);
  }
  return r;
}

struct Diff {
  double rel = 0;           // max |a - b| / max |b|
  int64_t argmax_same = 0;  // rows with the same argmax
  int64_t rows = 0;
  int64_t greedy_prefix = 0;  // equal leading greedy tokens
};

Diff compare(const ModelRun& a, const ModelRun& b, int64_t vocab) {
  Diff d;
  double e = 0, m = 0;
  for (size_t i = 0; i < a.prompt_logits.size(); ++i) {
    e = std::max(e, std::fabs(double(a.prompt_logits[i]) - b.prompt_logits[i]));
    m = std::max(m, std::fabs(double(b.prompt_logits[i])));
  }
  d.rel = e / m;
  d.rows = int64_t(a.prompt_logits.size()) / vocab;
  for (int64_t r = 0; r < d.rows; ++r)
    d.argmax_same += argmax(&a.prompt_logits[size_t(r * vocab)], vocab) ==
                     argmax(&b.prompt_logits[size_t(r * vocab)], vocab);
  while (d.greedy_prefix < kDecodeSteps &&
         a.greedy[size_t(d.greedy_prefix)] == b.greedy[size_t(d.greedy_prefix)])
    ++d.greedy_prefix;
  return d;
}

// Heads pruned for visual rows (Wo column views), half the FFN for them (W_down column view,
// gate/up row views), a window, and the cut from the last layer.
PruningPlan pruned_plan(const LlamaConfig& c, PruneSemantics sem) {
  PruningPlan p;
  p.name = "int8-test";
  p.semantics = sem;
  p.layers.assign(size_t(c.n_layers), LayerPlan{});
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerPlan& lp = p.layers[size_t(l)];
    lp.window_radius = 1;
    lp.ffn_width = c.ffn_dim / 2;
    lp.head_keep.assign(size_t(c.n_heads), 1);
    if (l > 0) lp.head_keep[size_t(l % c.n_heads)] = 0;
    lp.visual_active = l < c.n_layers - 1;
  }
  return p;
}

TEST(Int8Model, LogitsAndGreedyTokensFollowF32) {
  int64_t total_rows = 0, total_same = 0, total_greedy = 0, total_steps = 0;
  for (const Shape& s : shapes()) {
    SCOPED_TRACE(s.name);
    const RandomLlama rm = test::make_random_llama(s.spec);
    const LlamaModel f32 = rm.engine_model(DType::F32);
    const LlamaModel bf16 = rm.engine_model(DType::BF16);
    const LlamaModel i8 = int8_model(rm);
    ASSERT_EQ(i8.weights().layers[0].w_up.dtype, DType::I8);
    ASSERT_EQ(i8.weights().embedding.dtype, DType::BF16);
    const std::vector<float> prompt = test::random_prompt(rm, s.prompt, 5);
    const TokenLayout layout = s.prompt.layout();
    const int64_t n = s.prompt.total(), V = rm.cfg.vocab_size;

    const ModelRun rf = run(f32, prompt, n, layout, nullptr);
    const Diff d8 = compare(run(i8, prompt, n, layout, nullptr), rf, V);
    const Diff db = compare(run(bf16, prompt, n, layout, nullptr), rf, V);
    std::printf(
        "[ measured ] %s dense: int8 vs f32 max|dlogit|/max|logit| = %.4f (bf16: %.5f); argmax "
        "same on %lld/%lld prompt rows (bf16: %lld); greedy %lld/%d leading tokens equal "
        "(bf16: %lld)\n",
        s.name.c_str(), d8.rel, db.rel, (long long)d8.argmax_same, (long long)d8.rows,
        (long long)db.argmax_same, (long long)d8.greedy_prefix, kDecodeSteps,
        (long long)db.greedy_prefix);
    EXPECT_LT(d8.rel, kRelBound);
    EXPECT_GT(d8.rel, db.rel);  // int8 is coarser than bf16: the comparison sees the weights
    total_rows += d8.rows;
    total_same += d8.argmax_same;
    total_greedy += d8.greedy_prefix;
    total_steps += kDecodeSteps;

    for (PruneSemantics sem : {PruneSemantics::Exact, PruneSemantics::Fast}) {
      const PruningPlan plan = pruned_plan(rm.cfg, sem);
      const ModelRun pf = run(f32, prompt, n, layout, &plan);
      const ModelRun p8 = run(i8, prompt, n, layout, &plan);
      // Fast semantics drop visual rows' logits; compare the rows both have (finite ones).
      Diff dp;
      double e = 0, m = 0;
      int64_t rows = 0, same = 0;
      for (int64_t r = 0; r < n; ++r) {
        const float* a = &p8.prompt_logits[size_t(r * V)];
        const float* b = &pf.prompt_logits[size_t(r * V)];
        if (!std::isfinite(b[0])) continue;
        ++rows;
        same += argmax(a, V) == argmax(b, V);
        for (int64_t v = 0; v < V; ++v) {
          e = std::max(e, std::fabs(double(a[v]) - b[v]));
          m = std::max(m, std::fabs(double(b[v])));
        }
      }
      const double rel = e / m;
      std::printf("[ measured ] %s pruned (%s): int8 vs f32 rel %.4f, argmax same %lld/%lld\n",
                  s.name.c_str(), sem == PruneSemantics::Exact ? "exact" : "fast", rel,
                  (long long)same, (long long)rows);
      EXPECT_GT(rows, 0);
      EXPECT_LT(rel, kRelBound);
      // The pruned int8 run is not the dense one: the views were really used.
      if (sem == PruneSemantics::Exact) {
        EXPECT_GT(compare(p8, rf, V).rel, 0.0);
      }
    }
  }
  // Greedy tokens mostly equal: with a ~4% logit error a row's argmax changes only where its
  // top two logits are that close; require 80% of the prompt rows and half the greedy steps.
  std::printf("[ measured ] all: argmax same on %lld/%lld rows, greedy prefix %lld/%lld\n",
              (long long)total_same, (long long)total_rows, (long long)total_greedy,
              (long long)total_steps);
  EXPECT_GE(double(total_same), 0.8 * double(total_rows));
  EXPECT_GE(double(total_greedy), 0.5 * double(total_steps));
}

// A tensor file held in memory: float32 tensors under HF names.
class MemorySource : public TensorSource {
 public:
  void add(const std::string& name, const std::vector<float>& v, std::vector<int64_t> shape) {
    store_.push_back(v);
    RawTensor t;
    t.name = name;
    t.dtype = DType::F32;
    t.shape = std::move(shape);
    t.data = reinterpret_cast<const std::byte*>(store_.back().data());
    t.nbytes = v.size() * sizeof(float);
    tensors_.push_back(t);
  }
  const std::vector<RawTensor>& tensors() const override { return tensors_; }
  std::vector<float>& last() { return store_.back(); }

 private:
  std::vector<std::vector<float>> store_;  // moving a vector keeps its buffer
  std::vector<RawTensor> tensors_;
};

MemorySource hf_source(const RandomLlama& rm) {
  const LlamaConfig& c = rm.cfg;
  const int64_t d = c.dim, qd = c.n_heads * c.head_dim, kvd = c.n_kv_heads * c.head_dim,
                m = c.ffn_dim;
  MemorySource s;
  s.add("model.embed_tokens.weight", rm.embedding, {c.vocab_size, d});
  s.add("model.norm.weight", rm.output_norm, {d});
  s.add("lm_head.weight", rm.output, {c.vocab_size, d});
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const auto& L = rm.layers[size_t(l)];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    s.add(p + "input_layernorm.weight", L.attn_norm, {d});
    s.add(p + "post_attention_layernorm.weight", L.ffn_norm, {d});
    s.add(p + "self_attn.q_proj.weight", L.wq, {qd, d});
    s.add(p + "self_attn.k_proj.weight", L.wk, {kvd, d});
    s.add(p + "self_attn.v_proj.weight", L.wv, {kvd, d});
    s.add(p + "self_attn.o_proj.weight", L.wo, {d, qd});
    s.add(p + "mlp.gate_proj.weight", L.w_gate, {m, d});
    s.add(p + "mlp.up_proj.weight", L.w_up, {m, d});
    s.add(p + "mlp.down_proj.weight", L.w_down, {d, m});
  }
  return s;
}

void expect_same_matrix(const ops::WeightMatrix& a, const ops::WeightMatrix& b,
                        const std::string& what) {
  ASSERT_EQ(a.dtype, b.dtype) << what;
  ASSERT_EQ(a.rows, b.rows) << what;
  ASSERT_EQ(a.cols, b.cols) << what;
  EXPECT_EQ(a.scales, b.scales) << what;
  ASSERT_EQ(a.data.size(), b.data.size()) << what;
  EXPECT_EQ(std::memcmp(a.data.data(), b.data.data(), a.data.size()), 0) << what;
}

TEST(Int8Model, LoadingInInt8QuantizesTheProjectionsOnly) {
  const RandomLlama rm = test::make_random_llama(RandomLlamaSpec{64, 4, 2, 16, 2, 96, 97, 5});
  LlamaConfig cfg = rm.cfg;
  cfg.tied_embeddings = false;
  MemorySource src = hf_source(rm);
  const LlamaWeights w = load_llama_weights(src, cfg, LlamaTensorNames::hf(), DType::I8);
  EXPECT_EQ(w.embedding.dtype, DType::BF16);
  EXPECT_EQ(w.output.dtype, DType::BF16);
  ASSERT_EQ(w.layers.size(), 2u);
  // The same bits as quantizing the float weights directly (worked out per matrix).
  for (size_t l = 0; l < 2; ++l) {
    const auto& L = rm.layers[l];
    const LlamaLayerWeights& got = w.layers[l];
    const int64_t d = cfg.dim, qd = cfg.n_heads * cfg.head_dim, kvd = cfg.n_kv_heads * cfg.head_dim,
                  m = cfg.ffn_dim;
    expect_same_matrix(got.wq, ops::WeightMatrix::quantize_int8(L.wq.data(), qd, d), "wq");
    expect_same_matrix(got.wk, ops::WeightMatrix::quantize_int8(L.wk.data(), kvd, d), "wk");
    expect_same_matrix(got.wv, ops::WeightMatrix::quantize_int8(L.wv.data(), kvd, d), "wv");
    expect_same_matrix(got.wo, ops::WeightMatrix::quantize_int8(L.wo.data(), d, qd), "wo");
    expect_same_matrix(got.w_gate, ops::WeightMatrix::quantize_int8(L.w_gate.data(), m, d), "gate");
    expect_same_matrix(got.w_up, ops::WeightMatrix::quantize_int8(L.w_up.data(), m, d), "up");
    expect_same_matrix(got.w_down, ops::WeightMatrix::quantize_int8(L.w_down.data(), d, m), "down");
    EXPECT_EQ(got.attn_norm, L.attn_norm);
  }
  // Embedding and head: bf16 of the float values.
  for (int64_t i = 0; i < cfg.vocab_size * cfg.dim; ++i) {
    ASSERT_EQ(w.embedding.data.as<uint16_t>()[i], f32_to_bf16(rm.embedding[size_t(i)]));
    ASSERT_EQ(w.output.data.as<uint16_t>()[i], f32_to_bf16(rm.output[size_t(i)]));
  }
  // llama_weights_to_int8 of f32 weights gives the same matrices.
  const LlamaWeights c = llama_weights_to_int8(rm.engine_weights(DType::F32));
  expect_same_matrix(c.layers[1].w_down, w.layers[1].w_down, "to_int8 down");
  expect_same_matrix(c.embedding, w.embedding, "to_int8 embedding");

  // A non-finite projection weight is an error naming the tensor.
  src.last()[3] = std::numeric_limits<float>::infinity();  // layer 1 down_proj
  try {
    load_llama_weights(src, cfg, LlamaTensorNames::hf(), DType::I8);
    ADD_FAILURE() << "no error for an infinite weight";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.1.mlp.down_proj.weight"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(load_llama_weights(src, cfg, LlamaTensorNames::hf(), DType::F16), Error);
}

// Bad input to an int8 model is a yopo::Error, not a crash or a wrong result: an FFN wider than
// the int32-exact limit (the down projection's K), projections in a dtype the engine does not
// compute in.
TEST(Int8Model, BadInputThrows) {
  // dim 8, 2 heads of 4, 1 layer, FFN kMaxInt8K + 1: W_down is [8, 65537].
  const RandomLlama rm =
      test::make_random_llama(RandomLlamaSpec{8, 2, 2, 4, 1, ops::kMaxInt8K + 1, 5, 3});
  const LlamaModel i8 = int8_model(rm);
  ASSERT_EQ(i8.weights().layers[0].w_down.cols, ops::kMaxInt8K + 1);
  ops::Context ctx(2);
  KvCache cache = i8.make_cache(4);
  const int32_t ids[2] = {1, 4};
  std::vector<float> emb(size_t(2 * rm.cfg.dim));
  i8.embed(ids, 2, emb.data());
  const int32_t pos[2] = {0, 1};
  DecoderBatch b{emb.data(), 2, pos, nullptr, false};
  try {
    i8.forward(ctx, cache, b);
    ADD_FAILURE() << "no error for K above kMaxInt8K";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("65537"), std::string::npos) << e.what();
  }

  // Projections the matmul cannot take (a raw F16 matrix) are refused when the product runs.
  const RandomLlama small = test::make_random_llama(RandomLlamaSpec{16, 2, 2, 8, 1, 24, 7, 4});
  LlamaWeights w = llama_weights_to_int8(small.engine_weights(DType::F32));
  w.layers[0].wq.dtype = DType::F16;
  const LlamaModel bad(small.cfg, std::move(w));
  KvCache c2 = bad.make_cache(2);
  std::vector<float> e2(size_t(small.cfg.dim));
  bad.embed(ids, 1, e2.data());
  DecoderBatch b2{e2.data(), 1, pos, nullptr, false};
  EXPECT_THROW(bad.forward(ctx, c2, b2), Error);
  EXPECT_THROW(ops::WeightMatrix::from_f32(small.output.data(), 7, 16, DType::Q8_0), Error);
}

// The embedding table may itself be int8 (llama_weights_to_int8 keeps it bf16, but a caller can
// quantize it): embed() reads q * scale of the token's row.
TEST(Int8Model, EmbedReadsAnInt8Table) {
  const RandomLlama rm = test::make_random_llama(RandomLlamaSpec{16, 2, 2, 8, 1, 24, 7, 6});
  LlamaWeights w = rm.engine_weights(DType::F32);
  w.embedding = ops::WeightMatrix::quantize_int8(rm.embedding.data(), rm.cfg.vocab_size, 16);
  const ops::WeightMatrix& e = w.embedding;
  std::vector<float> want(16);
  const int32_t id = 5;
  for (int64_t c = 0; c < 16; ++c)
    want[size_t(c)] = float(e.data.as<int8_t>()[id * 16 + c]) * e.scales[size_t(id)];
  const LlamaModel m(rm.cfg, std::move(w));
  std::vector<float> got(16);
  m.embed(&id, 1, got.data());
  EXPECT_EQ(got, want);
  // And the values are the float row within half a step.
  for (int64_t c = 0; c < 16; ++c)
    EXPECT_NEAR(got[size_t(c)], rm.embedding_row(id)[c],
                0.5 * m.weights().embedding.scales[size_t(id)] * 1.0001);
}

}  // namespace
}  // namespace yopo
