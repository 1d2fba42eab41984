#include "runtime/bench/bench_runner.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>

#include "core/error.h"
#include "ops/context.h"
#include "prune/flops_model.h"
#include "runtime/bench/bench_methods.h"
#include "runtime/bench/bench_prompt.h"
#include "runtime/bench/decoder_bench.h"
#include "runtime/bench/int8_logit_diff.h"
#include "runtime/bench/layer_sample.h"
#include "runtime/bench/process_memory.h"
#include "runtime/bench/random_fill.h"
#include "runtime/bench/random_models.h"
#include "runtime/bench/timer.h"
#include "runtime/bench/vision_bench.h"

namespace yopo::bench {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

void say(const BenchOptions& o, const std::string& s) {
  if (o.log) *o.log << s << std::endl;
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

double layer_total(const LayerFlops& f) {
  return f.visual.total() + f.text.total();
}

// Bytes of one decoder layer's weights (all layers have the same shapes).
double layer_weight_bytes(const LlamaWeights& w) {
  if (w.layers.empty()) return 0;
  const LlamaLayerWeights& L = w.layers.front();
  double b = double((L.attn_norm.size() + L.ffn_norm.size()) * sizeof(float));
  for (const ops::WeightMatrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
    b += double(m->bytes());
  return b;
}

// A method prepared for the built model.
struct Prepared {
  ResolvedMethod method;
  LayerSample sample;
  PruningPlan plan;               // for the built layers
  std::vector<double> predicted;  // per real layer, predicted executed FLOPs (may be empty)
  double predicted_head = 0;
};

Prepared prepare(const ResolvedMethod& m, const LlamaConfig& full_cfg, int64_t layers) {
  Prepared p;
  p.method = m;
  p.sample = sample_layers(m.plan, full_cfg.n_layers, layers);
  p.plan = sampled_plan(m.plan, p.sample);
  return p;
}

// Predicted per-real-layer FLOPs of a method for one prompt (empty when the model does not
// apply, e.g. a plan the FLOPs model does not cover).
void predict(Prepared& p, const LlamaConfig& full_cfg, const PromptShape& ps,
             std::vector<std::string>& notes) {
  p.predicted.clear();
  try {
    TokenLayoutSummary s;
    s.n_text_before = ps.prefix_tokens;
    s.grid_rows = ps.grid_rows;
    s.grid_cols = ps.grid_cols;
    s.n_text_after = ps.suffix_tokens;
    const std::vector<LayerFlops> f = predicted_executed_flops(full_cfg, p.method.plan, s);
    for (const LayerFlops& l : f) p.predicted.push_back(layer_total(l));
    p.predicted_head = predicted_head_flops(full_cfg, 1);
  } catch (const Error& e) {
    notes.push_back("FLOPs model unavailable for " + p.method.spec.name + ": " + e.what());
    p.predicted.clear();
  }
}

// The row of a method on a prompt; d is its measurement (nullptr when unavailable).
MethodResult measure(const Prepared& p, const LlamaModel& model, const PromptRows& prompt,
                     const DecoderRunResult* d, double weights_bytes,
                     std::vector<std::string>& notes) {
  const MethodSpec& spec = p.method.spec;
  MethodResult r;
  r.method = spec.name;
  r.semantics = spec.semantics_label();
  r.visual_tokens = prompt.shape.visual_tokens();
  r.grid = prompt.shape.grid_rows;
  r.prompt_tokens = prompt.shape.total();
  r.layers = model.config().n_layers;
  r.full_layers = p.sample.full_layers;
  r.layer_sample = describe_sample(p.sample);
  r.real_layers = p.sample.real_layer;
  if (!p.method.available || !d) {
    r.status = "not implemented";
    r.note = p.method.note;
    return r;
  }

  r.prefill_ms = d->prefill_ms;
  r.executed_gflop = d->prefill_flops.total() / 1e9;
  r.visual_gflop = d->prefill_flops.visual_total().total() / 1e9;
  r.text_gflop = d->prefill_flops.text_total().total() / 1e9;
  r.head_gflop = (d->prefill_flops.head + d->prefill_flops.other) / 1e9;
  r.effective_gflops = r.executed_gflop / (r.prefill_ms.median / 1e3);
  r.prefill_stages = d->prefill_stages;
  if (d->decode_tok_s.count > 0) {
    r.decode_tok_s = d->decode_tok_s.median;
    r.decode_stages = d->decode_stages;
  }
  r.weights_mb = weights_bytes / kMiB;
  r.kv_cache_mb = double(d->kv_cache_bytes) / kMiB;
  r.peak_rss_mb = kib_to_mib(d->peak_rss_kib);
  r.rss_ratio = r.peak_rss_mb > 0 ? r.peak_rss_mb / (r.weights_mb + r.kv_cache_mb) : 0;
  const double scale = double(r.full_layers) / double(r.layers);
  r.full_depth_weights_mb =
      r.weights_mb + double(r.full_layers - r.layers) * layer_weight_bytes(model.weights()) / kMiB;
  r.full_depth_kv_cache_mb = r.kv_cache_mb * scale;
  if (r.peak_rss_mb > 0) {
    const double full_peak = r.peak_rss_mb - r.weights_mb - r.kv_cache_mb +
                             r.full_depth_weights_mb + r.full_depth_kv_cache_mb;
    r.extrapolated_full_depth_rss_ratio =
        full_peak / (r.full_depth_weights_mb + r.full_depth_kv_cache_mb);
  }

  // Per built layer FLOPs, checked against the FLOPs model at the real layers they stand for.
  std::vector<double> layer_flops(size_t(r.layers), 0.0);
  for (int64_t l = 0; l < r.layers && l < int64_t(d->prefill_flops.layers.size()); ++l)
    layer_flops[size_t(l)] = layer_total(d->prefill_flops.layers[size_t(l)]);
  const bool have_model = !p.predicted.empty();
  if (have_model) {
    for (int64_t l = 0; l < r.layers; ++l) {
      const double want = p.predicted[size_t(p.sample.real_layer[size_t(l)])];
      const double got = layer_flops[size_t(l)];
      if (std::abs(got - want) > 1e-9 * std::max(1.0, want)) {
        std::ostringstream os;
        os << spec.name << " (" << r.semantics << ", " << r.visual_tokens
           << " visual): executed FLOPs of built layer " << l << " (real layer "
           << p.sample.real_layer[size_t(l)] << ") = " << got << ", the FLOPs model predicts "
           << want;
        notes.push_back(os.str());
        break;
      }
    }
    double total = p.predicted_head;
    for (double v : p.predicted) total += v;
    r.predicted_full_depth_gflop = total / 1e9;
  }
  const std::vector<double> empty;
  const std::vector<double>& ref = have_model ? p.predicted : empty;
  const Extrapolated ef =
      extrapolate(p.sample, layer_flops, d->prefill_flops.head + d->prefill_flops.other, ref);
  r.extrapolated_full_depth_gflop = ef.total / 1e9;
  const Extrapolated et =
      extrapolate(p.sample, d->prefill_stages.layer_ms, d->prefill_stages.outside_ms, ref);
  r.extrapolated_full_depth_prefill_ms = et.total;
  r.extrapolation_approximate = et.approximate;
  if (r.decode_stages) {
    // A decode step reads every weight of a layer whatever the plan, so an unsampled run is
    // estimated as costing what the nearest sampled run costs (reference: equal costs).
    const std::vector<double> same(size_t(p.sample.full_layers), 1.0);
    const Extrapolated ed =
        extrapolate(p.sample, r.decode_stages->layer_ms, r.decode_stages->outside_ms, same);
    if (ed.total > 0) r.extrapolated_full_depth_decode_tok_s = 1e3 / ed.total;
  }
  return r;
}

// Fills the ratios to the dense row of the same visual token count.
void relate_to_dense(std::vector<MethodResult>& rows, double peak_gflops) {
  std::map<int64_t, const MethodResult*> dense;
  for (const MethodResult& r : rows)
    if (r.method == "dense" && r.status == "ok") dense[r.visual_tokens] = &r;
  for (MethodResult& r : rows) {
    if (r.status != "ok") continue;
    r.peak_ratio = peak_gflops > 0 ? r.effective_gflops / peak_gflops : 0;
    auto it = dense.find(r.visual_tokens);
    if (it == dense.end()) continue;
    const MethodResult& d = *it->second;
    r.speedup_vs_dense = d.prefill_ms.median / r.prefill_ms.median;
    r.flops_ratio_vs_dense = d.executed_gflop / r.executed_gflop;
    r.speedup_efficiency = *r.speedup_vs_dense / *r.flops_ratio_vs_dense;
    r.extrapolated_speedup_vs_dense =
        d.extrapolated_full_depth_prefill_ms / r.extrapolated_full_depth_prefill_ms;
    r.extrapolated_flops_ratio_vs_dense =
        d.extrapolated_full_depth_gflop / r.extrapolated_full_depth_gflop;
  }
}

// The int8 mode quantizes the decoder only: the vision tower and projector stay bf16.
DType vision_dtype(DType d) {
  return d == DType::I8 ? DType::BF16 : d;
}

std::string dtype_label(DType d) {
  return d == DType::BF16 ? "bf16" : d == DType::I8 ? "int8" : "f32";
}

GemmPeak probe_peak(const BenchOptions& o, ops::Context& ctx, DType dtype) {
  const std::string label = dtype_label(dtype);
  say(o, "GEMM peak: " + std::to_string(o.peak_shape.m) + "x" + std::to_string(o.peak_shape.k) +
             "x" + std::to_string(o.peak_shape.n) + " " + label + " ...");
  const GemmPeak p = measure_gemm_peak(ctx, o.peak_shape, dtype, o.peak_reps);
  std::ostringstream os;
  os.precision(1);
  os << std::fixed << "GEMM peak: " << p.gflops << (dtype == DType::I8 ? " GOP/s" : " GFLOP/s")
     << " " << label << " (best " << p.best_ms << " ms, " << ctx.threads() << " threads)";
  say(o, os.str());
  return p;
}

VisionResult bench_vision(const BenchOptions& o, const DecoderShape& shape, double peak) {
  const ClipVisionConfig cfg = clip_vit_l14_336();
  const DType dtype = vision_dtype(o.dtype);
  VisionResult v;
  v.layers_run = o.vision_layers;
  v.layers_full = kLlavaVisionLayersRun;
  Stopwatch build;
  ClipVisionWeights w = random_clip_weights(cfg, o.vision_layers, dtype, derive_seed(o.seed, 7));
  const MlpProjector proj =
      random_projector(cfg.dim, shape.dim, shape.dim, dtype, derive_seed(o.seed, 8));
  v.weights_mb = double(clip_weight_bytes(w) + projector_weight_bytes(proj)) / kMiB;
  const ClipVisionTower tower(cfg, std::move(w));
  say(o, "vision: built CLIP ViT-L/14-336 (" + std::to_string(o.vision_layers) +
             " layers) + projector in " + std::to_string(int(build.ms())) + " ms");
  const VisionRunResult r = run_vision(tower, proj, o.threads, o.reps, derive_seed(o.seed, 9));
  v.tower_ms = r.tower_ms;
  v.projector_ms = r.projector_ms;
  v.total_ms = r.total_ms;
  v.tower_gflop = r.tower_gflop;
  v.projector_gflop = r.projector_gflop;
  v.gflop = r.tower_gflop + r.projector_gflop;
  v.effective_gflops = v.gflop / (v.total_ms.median / 1e3);
  v.peak_ratio = peak > 0 ? v.effective_gflops / peak : 0;
  const double full_tower_gflop = clip_tower_flops(cfg, v.layers_full) / 1e9;
  v.extrapolated_full_ms =
      (r.tower_gflop > 0 ? r.tower_ms.median * full_tower_gflop / r.tower_gflop : 0) +
      r.projector_ms.median;
  v.peak_rss_mb = kib_to_mib(r.peak_rss_kib);
  return v;
}

// Prefill and decode of every method on the main prompt and the sweep prompts.
void bench_decoder(const BenchOptions& o, const DecoderShape& shape, const LlamaConfig& full_cfg,
                   std::vector<Prepared>& methods, BenchReport& rep) {
  BenchSetup& su = rep.setup;
  // The decoder, with a RoPE table long enough for the largest prompt.
  std::vector<PromptShape> prompts = {llava_prompt(o.grid, o.prefix_tokens, o.suffix_tokens)};
  if (o.sweep)
    for (int64_t t : o.sweep_tokens) {
      const int64_t g = grid_side_for(t);
      bool have = false;
      for (const PromptShape& p : prompts) have = have || p.grid_rows == g;
      if (!have) prompts.push_back(llava_prompt(g, o.prefix_tokens, o.suffix_tokens));
    }
  int64_t positions = 0;
  for (const PromptShape& p : prompts) positions = std::max(positions, p.total() + o.decode_steps);
  const LlamaConfig cfg = bench_llama_config(shape, o.layers, positions);
  release_free_heap();  // what the peak probe and the vision stage freed
  su.baseline_rss_mb = kib_to_mib(read_process_memory().rss_kib);
  Stopwatch build;
  const auto model = random_llama_model(cfg, o.dtype, derive_seed(o.seed, 1));
  const double weights_bytes = double(llama_weight_bytes(model->weights()));
  {
    std::ostringstream os;
    os << "decoder: built " << o.layers << " of " << shape.n_layers << " layers of " << shape.name
       << " (" << su.dtype << ", " << int64_t(weights_bytes / kMiB) << " MiB) in "
       << int64_t(build.ms()) << " ms";
    say(o, os.str());
  }
  if (o.layers < shape.n_layers)
    rep.notes.push_back("only " + std::to_string(o.layers) + " of " +
                        std::to_string(shape.n_layers) +
                        " decoder layers are built and run; full-depth figures are extrapolated");
  if (!su.rss_reset)
    rep.notes.push_back("VmHWM could not be reset: peak RSS covers the whole process");

  for (size_t pi = 0; pi < prompts.size(); ++pi) {
    const PromptShape& ps = prompts[pi];
    const bool main_prompt = pi == 0;
    const PromptRows rows = make_prompt_rows(*model, ps, derive_seed(o.seed, 2));
    std::vector<const PruningPlan*> plans;
    std::ostringstream os;
    os << "prefill" << (main_prompt && o.decode_steps > 0 ? " + decode" : "") << ", "
       << ps.visual_tokens() << " visual tokens, " << ps.total() << " rows, " << o.reps
       << " interleaved reps:";
    for (Prepared& m : methods) {
      if (!m.method.available) continue;
      predict(m, full_cfg, ps, rep.notes);
      plans.push_back(m.plan.is_dense() ? nullptr : &m.plan);
      os << " " << m.method.spec.name;
      if (m.method.spec.has_semantics) os << "/" << m.method.spec.semantics_label();
    }
    say(o, os.str() + " ...");
    DecoderRunConfig rc;
    rc.threads = o.threads;
    rc.reps = o.reps;
    rc.decode_steps = main_prompt ? o.decode_steps : 0;
    const std::vector<DecoderRunResult> measured =
        plans.empty() ? std::vector<DecoderRunResult>() : run_decoders(*model, rows, plans, rc);
    size_t next = 0;
    for (Prepared& m : methods) {
      const DecoderRunResult* d = m.method.available ? &measured[next++] : nullptr;
      rep.results.push_back(measure(m, *model, rows, d, weights_bytes, rep.notes));
    }
  }
  relate_to_dense(rep.results, rep.peak.gflops);
}

}  // namespace

void validate_options(const BenchOptions& o) {
  const DecoderShape shape = llava15_decoder_shape(o.shape);
  check(o.dtype == DType::BF16 || o.dtype == DType::F32 || o.dtype == DType::I8,
        "benchmark weights must be bf16, f32 or int8");
  check(o.layers >= 1 && o.layers <= shape.n_layers, "--layers must be between 1 and ",
        shape.n_layers, " for ", shape.name, ", not ", o.layers);
  check(o.vision_layers >= 0 && o.vision_layers <= 24,
        "--vision-layers must be between 0 and 24, not ", o.vision_layers);
  check(o.threads >= 0, "--threads must not be negative");
  check(o.reps >= 1, "--reps must be at least 1");
  check(o.decode_steps >= 0, "--decode-steps must not be negative");
  check(o.prefix_tokens >= 1 && o.suffix_tokens >= 0 && o.grid >= 1,
        "the prompt needs a prefix of at least 1 token (BOS), a suffix >= 0 and a grid >= 1");
  check(o.window_radius >= 0, "the window radius must not be negative");
  check(o.peak_reps >= 1, "the GEMM peak needs at least one repetition");
  for (int64_t t : o.sweep_tokens)
    check(t >= 1 && t <= 65536, "sweep visual token counts must be in 1..65536, not ", t);
  check(!o.sweep || !o.sweep_tokens.empty(), "--sweep needs at least one visual token count");
}

BenchReport run_benchmark(const BenchOptions& o) {
  validate_options(o);
  const DecoderShape shape = llava15_decoder_shape(o.shape);
  BenchReport rep;
  BenchSetup& su = rep.setup;
  su.shape = shape.name;
  su.dtype = dtype_label(o.dtype);
  su.omp_proc_bind = env_or_empty("OMP_PROC_BIND");
  su.omp_places = env_or_empty("OMP_PLACES");
  su.avx512_bf16 = ops::Context::cpu_has_avx512_bf16();
  su.reps = o.reps;
  su.decode_steps = o.decode_steps;
  su.layers = o.layers;
  su.full_layers = shape.n_layers;
  su.prefix_tokens = o.prefix_tokens;
  su.suffix_tokens = o.suffix_tokens;
  su.grid = o.grid;
  su.seed = o.seed;
  su.rss_reset = reset_peak_rss();
  if (o.sweep) rep.sweep_tokens = o.sweep_tokens;

  // Methods first: a bad spec fails before any long work.
  const LlamaConfig full_cfg = bench_llama_config(shape, shape.n_layers);
  const std::vector<MethodSpec> specs =
      expand_methods(o.methods.empty() ? default_method_names() : o.methods, o.semantics);
  std::vector<Prepared> methods;
  for (const MethodSpec& s : specs)
    methods.push_back(prepare(resolve_method(s, full_cfg, o.head_mask), full_cfg, o.layers));

  {
    ops::Context ctx(o.threads);
    ops::OmpThreadScope omp_scope(ctx.threads());
    su.threads = ctx.threads();
    rep.peak = probe_peak(o, ctx, o.dtype);
    if (o.dtype == DType::I8) rep.peak_bf16 = probe_peak(o, ctx, DType::BF16);
  }
  if (o.dtype == DType::I8) {
    say(o, "int8 vs bf16 logits on a tiny random model ...");
    rep.int8_logit_diff = measure_int8_logit_diff(o.threads, derive_seed(o.seed, 0x18));
    rep.notes.push_back(
        "int8 mode: the decoder layers' projections are int8 (per-row scales, activations "
        "quantized per row at run time); embedding, output head and the vision path stay bf16. "
        "Decoder rows are rated against the int8 GEMM peak (GOP/s), the vision path against "
        "the bf16 one");
  }
  if (o.vision)
    rep.vision = bench_vision(o, shape, rep.peak_bf16 ? rep.peak_bf16->gflops : rep.peak.gflops);

  if (o.decoder) bench_decoder(o, shape, full_cfg, methods, rep);
  if (o.sweep) {
    for (int64_t t : o.sweep_tokens) {
      const int64_t g = grid_side_for(t);
      say(o, "attention kernels: " + std::to_string(g * g) + " visual queries ...");
      rep.attention_sweep.push_back(
          measure_visual_attention(o.threads, shape.n_heads, shape.head_dim, o.prefix_tokens, g,
                                   o.window_radius, o.reps, derive_seed(o.seed, 3)));
    }
  }
  return rep;
}

}  // namespace yopo::bench
