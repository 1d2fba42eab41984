// Timing one decoder configuration: repeated prefills of a prompt, each followed by greedy
// decode steps, with per-layer and per-stage times, executed FLOPs and peak resident memory.
#pragma once

#include <cstddef>  // before models/flop_counter.h, which uses size_t without it
#include <cstdint>
#include <vector>

#include "models/flop_counter.h"
#include "models/llama.h"
#include "runtime/bench/bench_prompt.h"
#include "runtime/bench/stage_timer.h"
#include "runtime/bench/stats.h"

namespace yopo::bench {

struct DecoderRunConfig {
  int threads = 0;            // 0: all
  int reps = 3;               // timed repetitions (one untimed warm-up comes first)
  int64_t decode_steps = 16;  // greedy steps after each prefill (0: none)
};

struct DecoderRunResult {
  std::vector<double> prefill_samples_ms;
  Summary prefill_ms;
  StageBreakdown prefill_stages;  // of the repetition with the median time
  FlopCounter prefill_flops;      // one prefill

  std::vector<double> decode_tok_s_samples;  // per repetition: steps / decode time
  Summary decode_tok_s;                      // count 0 when no decode steps ran
  StageBreakdown decode_stages;              // mean over the steps of every repetition
  FlopCounter decode_flops;                  // one decode step (the mean over the steps)

  int64_t kv_cache_bytes = 0;
  int64_t peak_rss_kib = -1;    // VmHWM after this plan's warm-up run
  bool peak_rss_reset = false;  // whether VmHWM was reset before it (else: process life)
};

// Runs several configurations (plans: nullptr = dense, else a plan for model's layer count) on
// one prompt, INTERLEAVED: one untimed warm-up of each, then repetition r of every plan before
// repetition r + 1 of any, so that a machine whose speed drifts (other processes, frequency)
// affects every plan alike and the ratios between plans stay fair. They share one
// ops::Context and one KV cache (cleared before each prefill). The warm-up also measures
// memory: before it, freed heap memory is returned to the system and VmHWM is reset, and the
// plan's peak RSS is VmHWM after it (the timed runs leave the heap as the engine left it, as
// in steady use). One result per plan, in order.
std::vector<DecoderRunResult> run_decoders(const LlamaModel& model, const PromptRows& prompt,
                                           const std::vector<const PruningPlan*>& plans,
                                           const DecoderRunConfig& cfg);

// One plan alone (run_decoders with one plan).
DecoderRunResult run_decoder(const LlamaModel& model, const PromptRows& prompt,
                             const PruningPlan* plan, const DecoderRunConfig& cfg);

// Index of the largest logit (first on ties).
int32_t argmax(const float* logits, int64_t n);

}  // namespace yopo::bench
