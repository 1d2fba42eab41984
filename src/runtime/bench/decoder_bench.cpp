#include "runtime/bench/decoder_bench.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "ops/context.h"
#include "runtime/bench/process_memory.h"

namespace yopo::bench {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

FlopCounter scaled(const FlopCounter& f, double k) {
  FlopCounter o = f;
  for (LayerFlops& l : o.layers) {
    for (FlopParts* p : {&l.visual, &l.text}) {
      p->proj *= k;
      p->attn *= k;
      p->ffn *= k;
    }
  }
  o.head *= k;
  o.other *= k;
  return o;
}

}  // namespace

int32_t argmax(const float* logits, int64_t n) {
  check(n > 0, "argmax of no logits");
  return int32_t(std::max_element(logits, logits + n) - logits);
}

namespace {

// The state of one plan across its interleaved runs.
struct PlanRun {
  const PruningPlan* plan = nullptr;
  DecoderRunResult res;
  std::vector<StageBreakdown> prefill_b, decode_b;
};

// One prefill and the decode steps of `run`; records them when timed.
void run_once(ops::Context& ctx, const LlamaModel& model, const PromptRows& prompt, KvCache& cache,
              const DecoderRunConfig& cfg, bool timed, PlanRun& run) {
  const LlamaConfig& mc = model.config();
  const int64_t n = prompt.shape.total(), L = mc.n_layers;
  StageRecorder rec;
  const DebugHook hook = rec.hook();
  std::vector<float> emb(static_cast<size_t>(mc.dim));
  DecoderRunResult& res = run.res;

  if (!timed) {  // the warm-up measures memory: from a trimmed heap, its own peak
    release_free_heap();
    res.peak_rss_reset = reset_peak_rss();
  }
  cache.clear();
  FlopCounter pf;
  DecoderBatch batch{
      prompt.embeddings.data(), n, prompt.positions.data(), &prompt.layout, false, run.plan, &pf};
  const Clock::time_point t0 = Clock::now();
  std::vector<float> logits = model.forward(ctx, cache, batch, hook);
  const Clock::time_point t1 = Clock::now();
  if (timed) {
    res.prefill_samples_ms.push_back(ms_between(t0, t1));
    run.prefill_b.push_back(attribute_events(rec.events(), L, t0, t1));
    res.prefill_flops = pf;
  }
  FlopCounter df;
  double decode_ms = 0;
  for (int64_t s = 0; s < cfg.decode_steps; ++s) {
    const int32_t next = argmax(logits.data(), mc.vocab_size);
    const int32_t pos = int32_t(cache.size());
    rec.clear();
    const Clock::time_point s0 = Clock::now();
    model.embed(&next, 1, emb.data());
    DecoderBatch step{emb.data(), 1, &pos, nullptr, false, run.plan, &df};
    logits = model.forward(ctx, cache, step, hook);
    const Clock::time_point s1 = Clock::now();
    decode_ms += ms_between(s0, s1);
    if (timed) run.decode_b.push_back(attribute_events(rec.events(), L, s0, s1));
  }
  if (timed && cfg.decode_steps > 0) {
    res.decode_tok_s_samples.push_back(double(cfg.decode_steps) * 1e3 / decode_ms);
    res.decode_flops = scaled(df, 1.0 / double(cfg.decode_steps));
  }
  if (!timed) res.peak_rss_kib = read_process_memory().hwm_kib;
}

void finish(PlanRun& run) {
  DecoderRunResult& res = run.res;
  res.prefill_ms = summarize(res.prefill_samples_ms);
  // The breakdown of the median repetition (the lower middle one for an even count).
  std::vector<size_t> order(run.prefill_b.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return res.prefill_samples_ms[a] < res.prefill_samples_ms[b];
  });
  res.prefill_stages = run.prefill_b[order[(order.size() - 1) / 2]];
  if (!res.decode_tok_s_samples.empty()) {
    res.decode_tok_s = summarize(res.decode_tok_s_samples);
    res.decode_stages = mean_breakdown(run.decode_b);
  }
}

}  // namespace

std::vector<DecoderRunResult> run_decoders(const LlamaModel& model, const PromptRows& prompt,
                                           const std::vector<const PruningPlan*>& plans,
                                           const DecoderRunConfig& cfg) {
  check(cfg.reps >= 1, "at least one repetition is needed, not ", cfg.reps);
  check(cfg.decode_steps >= 0, "negative decode step count ", cfg.decode_steps);
  const LlamaConfig& mc = model.config();
  const int64_t n = prompt.shape.total();
  check(int64_t(prompt.embeddings.size()) == n * mc.dim,
        "prompt rows do not match the model width");
  ops::Context ctx(cfg.threads);
  ops::OmpThreadScope omp_scope(ctx.threads());
  KvCache cache = model.make_cache(n + std::max<int64_t>(cfg.decode_steps, 1));
  std::vector<PlanRun> runs(plans.size());
  for (size_t i = 0; i < plans.size(); ++i) {
    runs[i].plan = plans[i];
    runs[i].res.kv_cache_bytes = int64_t(cache.bytes());
    run_once(ctx, model, prompt, cache, cfg, false, runs[i]);  // warm-up
  }
  for (int rep = 0; rep < cfg.reps; ++rep)
    for (PlanRun& r : runs) run_once(ctx, model, prompt, cache, cfg, true, r);
  std::vector<DecoderRunResult> out;
  for (PlanRun& r : runs) {
    finish(r);
    out.push_back(std::move(r.res));
  }
  return out;
}

DecoderRunResult run_decoder(const LlamaModel& model, const PromptRows& prompt,
                             const PruningPlan* plan, const DecoderRunConfig& cfg) {
  return std::move(run_decoders(model, prompt, {plan}, cfg).front());
}

}  // namespace yopo::bench
