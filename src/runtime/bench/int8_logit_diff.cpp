#include "runtime/bench/int8_logit_diff.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "models/llama.h"
#include "ops/context.h"
#include "runtime/bench/decoder_bench.h"
#include "runtime/bench/random_fill.h"
#include "runtime/bench/random_models.h"

namespace yopo::bench {

namespace {

// LLaMA-like proportions at a size that builds and runs in well under a second.
LlamaConfig tiny_config() {
  LlamaConfig c;
  c.vocab_size = 512;
  c.dim = 256;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 4;
  c.head_dim = 64;
  c.ffn_dim = 688;
  c.max_position = 128;
  c.norm_eps = 1e-5f;
  c.rope_theta = 10000.0;
  c.validate();
  return c;
}

constexpr int64_t kPromptRows = 32;
constexpr int64_t kGreedySteps = 16;

struct Run {
  std::vector<float> prompt_logits;  // [kPromptRows, vocab]
  std::vector<int32_t> greedy;       // kGreedySteps tokens
};

Run run(const LlamaModel& model, const std::vector<int32_t>& ids, int threads) {
  const LlamaConfig& c = model.config();
  ops::Context ctx(threads);
  const int64_t n = int64_t(ids.size());
  KvCache cache = model.make_cache(n + kGreedySteps);
  std::vector<float> emb(size_t(n * c.dim));
  model.embed(ids.data(), n, emb.data());
  std::vector<int32_t> pos(static_cast<size_t>(n));
  std::iota(pos.begin(), pos.end(), 0);
  Run r;
  DecoderBatch b{emb.data(), n, pos.data(), nullptr, /*all_logits=*/true};
  r.prompt_logits = model.forward(ctx, cache, b);
  std::vector<float> logits(r.prompt_logits.end() - c.vocab_size, r.prompt_logits.end());
  std::vector<float> e(size_t(c.dim));
  for (int64_t s = 0; s < kGreedySteps; ++s) {
    const int32_t next = argmax(logits.data(), c.vocab_size);
    r.greedy.push_back(next);
    const int32_t p = int32_t(n + s);
    model.embed(&next, 1, e.data());
    DecoderBatch step{e.data(), 1, &p, nullptr, false};
    logits = model.forward(ctx, cache, step);
  }
  return r;
}

}  // namespace

Int8LogitDiff measure_int8_logit_diff(int threads, uint64_t seed) {
  const LlamaConfig cfg = tiny_config();
  // Same seed: the same float weights, rounded to bf16 in one model, quantized in the other.
  const LlamaModel bf16(cfg, random_llama_weights(cfg, DType::BF16, seed));
  const LlamaModel int8(cfg, random_llama_weights(cfg, DType::I8, seed));
  std::vector<int32_t> ids(static_cast<size_t>(kPromptRows));
  for (int64_t i = 0; i < kPromptRows; ++i)
    ids[size_t(i)] =
        int32_t(splitmix64_at(derive_seed(seed, 0x18d), uint64_t(i)) % uint64_t(cfg.vocab_size));
  const Run a = run(bf16, ids, threads), b = run(int8, ids, threads);

  Int8LogitDiff d;
  d.dim = cfg.dim;
  d.layers = cfg.n_layers;
  d.heads = cfg.n_heads;
  d.head_dim = cfg.head_dim;
  d.ffn = cfg.ffn_dim;
  d.vocab = cfg.vocab_size;
  d.prompt_rows = kPromptRows;
  for (size_t i = 0; i < a.prompt_logits.size(); ++i) {
    d.max_abs_diff =
        std::max(d.max_abs_diff, std::fabs(double(b.prompt_logits[i]) - a.prompt_logits[i]));
    d.max_abs_logit = std::max(d.max_abs_logit, std::fabs(double(a.prompt_logits[i])));
  }
  d.rel_diff = d.max_abs_logit > 0 ? d.max_abs_diff / d.max_abs_logit : 0;
  for (int64_t r = 0; r < kPromptRows; ++r) {
    const size_t at = size_t(r * cfg.vocab_size);
    d.argmax_agree += argmax(&a.prompt_logits[at], cfg.vocab_size) ==
                      argmax(&b.prompt_logits[at], cfg.vocab_size);
  }
  d.greedy_steps = kGreedySteps;
  while (d.greedy_same_prefix < kGreedySteps &&
         a.greedy[size_t(d.greedy_same_prefix)] == b.greedy[size_t(d.greedy_same_prefix)])
    ++d.greedy_same_prefix;
  return d;
}

}  // namespace yopo::bench
