// Per-layer and per-stage wall-clock times of a decoder forward pass, taken from the decoder's
// DebugHook: the hook fires after each named step of each layer (attn_norm, Qcur/Kcur/Vcur,
// kqv_out, ffn_inp, ffn_norm, l_out; inp_embd before the layers, result_norm/result_output
// after), so the time between two events is the time of the step that ends at the second one.
// The hook only reads the clock (no data is touched), so timing with it costs nothing
// measurable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "models/llama.h"

namespace yopo::bench {

// Stages a layer's time is split into. Dense layers report qkv and attention separately; the
// pruned layer has no event between its projections and its attention, so it reports them
// together as qkv_attention.
enum class Stage {
  Setup,
  AttnNorm,
  Qkv,
  Attention,
  QkvAttention,
  OutProj,
  FfnNorm,
  Ffn,
  Head,
  Count
};
const char* stage_name(Stage s);

struct HookEvent {
  const char* name;  // the decoder's string literal
  int64_t layer;
  std::chrono::steady_clock::time_point t;
};

struct StageBreakdown {
  std::vector<double> layer_ms;  // per layer: from the end of the previous layer (or
                                 // inp_embd) to its l_out
  double outside_ms = 0;         // before the first and after the last layer event
  double stage_ms[size_t(Stage::Count)] = {};
  double total_ms = 0;  // first to last event, plus outside
};

// Records hook events; one recorder per forward call (clear() between calls).
class StageRecorder {
 public:
  StageRecorder() { events_.reserve(4096); }
  DebugHook hook();
  void clear() { events_.clear(); }
  const std::vector<HookEvent>& events() const { return events_; }

 private:
  std::vector<HookEvent> events_;
};

// Attributes the events of one forward pass of n_layers layers to layers and stages. start and
// end are the times just before and just after the forward call (the parts before the first
// and after the last event count as Setup and Head). Throws yopo::Error when a layer has no
// l_out event.
StageBreakdown attribute_events(const std::vector<HookEvent>& events, int64_t n_layers,
                                std::chrono::steady_clock::time_point start,
                                std::chrono::steady_clock::time_point end);

// Element-wise mean of several breakdowns of the same layer count.
StageBreakdown mean_breakdown(const std::vector<StageBreakdown>& b);

}  // namespace yopo::bench
