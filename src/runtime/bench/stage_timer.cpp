#include "runtime/bench/stage_timer.h"

#include <cstring>

#include "core/error.h"

namespace yopo::bench {

namespace {

double ms_between(std::chrono::steady_clock::time_point a,
                  std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

bool is(const char* a, const char* b) {
  return std::strcmp(a, b) == 0;
}

}  // namespace

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::Setup:
      return "setup";
    case Stage::AttnNorm:
      return "attn_norm";
    case Stage::Qkv:
      return "qkv_proj";
    case Stage::Attention:
      return "attention";
    case Stage::QkvAttention:
      return "qkv_proj+attention";
    case Stage::OutProj:
      return "o_proj";
    case Stage::FfnNorm:
      return "ffn_norm";
    case Stage::Ffn:
      return "ffn";
    case Stage::Head:
      return "head";
    case Stage::Count:
      break;
  }
  return "?";
}

DebugHook StageRecorder::hook() {
  return [this](const char* name, int64_t layer, const float*, int64_t, int64_t, int64_t) {
    events_.push_back({name, layer, std::chrono::steady_clock::now()});
  };
}

StageBreakdown attribute_events(const std::vector<HookEvent>& ev, int64_t n_layers,
                                std::chrono::steady_clock::time_point start,
                                std::chrono::steady_clock::time_point end) {
  StageBreakdown b;
  b.layer_ms.assign(size_t(n_layers), 0.0);
  std::vector<bool> done(size_t(n_layers), false);
  auto add = [&](Stage s, double ms) { b.stage_ms[size_t(s)] += ms; };
  if (ev.empty()) {
    b.outside_ms = ms_between(start, end);
    add(Stage::Setup, b.outside_ms);
    b.total_ms = b.outside_ms;
    return b;
  }
  const double before = ms_between(start, ev.front().t), after = ms_between(ev.back().t, end);
  add(Stage::Setup, before);
  add(Stage::Head, after);
  b.outside_ms = before + after;
  bool qcur_seen = false;  // in the current layer
  for (size_t i = 1; i < ev.size(); ++i) {
    const HookEvent& e = ev[i];
    const double ms = ms_between(ev[i - 1].t, e.t);
    if (e.layer < 0) {  // result_norm, result_output
      add(Stage::Head, ms);
      b.outside_ms += ms;
      continue;
    }
    check(e.layer < n_layers, "stage timer: event '", e.name, "' of layer ", e.layer, " in a ",
          n_layers, "-layer model");
    b.layer_ms[size_t(e.layer)] += ms;
    if (is(e.name, "attn_norm")) {
      qcur_seen = false;
      add(Stage::AttnNorm, ms);
    } else if (is(e.name, "Qcur") || is(e.name, "Kcur") || is(e.name, "Vcur")) {
      qcur_seen = true;
      add(Stage::Qkv, ms);
    } else if (is(e.name, "kqv_out")) {
      add(qcur_seen ? Stage::Attention : Stage::QkvAttention, ms);
    } else if (is(e.name, "ffn_inp")) {
      add(Stage::OutProj, ms);
    } else if (is(e.name, "ffn_norm")) {
      add(Stage::FfnNorm, ms);
    } else if (is(e.name, "l_out")) {
      add(Stage::Ffn, ms);
      done[size_t(e.layer)] = true;
    } else {
      add(Stage::QkvAttention, ms);  // an event this timer does not know: keep the time
    }
  }
  for (int64_t l = 0; l < n_layers; ++l)
    check(done[size_t(l)], "stage timer: layer ", l, " reported no l_out event");
  b.total_ms = ms_between(start, end);
  return b;
}

StageBreakdown mean_breakdown(const std::vector<StageBreakdown>& bs) {
  check(!bs.empty(), "no stage breakdowns to average");
  StageBreakdown m;
  m.layer_ms.assign(bs.front().layer_ms.size(), 0.0);
  for (const StageBreakdown& b : bs) {
    check(b.layer_ms.size() == m.layer_ms.size(), "stage breakdowns of different layer counts");
    for (size_t l = 0; l < m.layer_ms.size(); ++l) m.layer_ms[l] += b.layer_ms[l];
    m.outside_ms += b.outside_ms;
    m.total_ms += b.total_ms;
    for (size_t s = 0; s < size_t(Stage::Count); ++s) m.stage_ms[s] += b.stage_ms[s];
  }
  const double k = double(bs.size());
  for (double& v : m.layer_ms) v /= k;
  m.outside_ms /= k;
  m.total_ms /= k;
  for (double& v : m.stage_ms) v /= k;
  return m;
}

}  // namespace yopo::bench
