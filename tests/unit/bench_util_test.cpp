// Helpers of `yopo bench` (src/runtime/bench/): statistics, /proc parsing, seeded fills, model
// shapes and parameter counts, prompt layout, layer sampling and extrapolation, stage
// attribution, window spans, FLOPs formulas and the table/CSV/SVG/JSON writers. No timing is
// asserted anywhere: the benchmark itself is a program, not a test.
#include <gtest/gtest.h>
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/svg_plot.h"
#include "runtime/bench/attention_bench.h"
#include "runtime/bench/bench_methods.h"
#include "runtime/bench/bench_output.h"
#include "runtime/bench/bench_prompt.h"
#include "runtime/bench/csv_writer.h"
#include "runtime/bench/decoder_bench.h"
#include "runtime/bench/gemm_peak.h"
#include "runtime/bench/layer_sample.h"
#include "runtime/bench/process_memory.h"
#include "runtime/bench/random_fill.h"
#include "runtime/bench/random_models.h"
#include "runtime/bench/stage_timer.h"
#include "runtime/bench/stats.h"
#include "runtime/bench/text_table.h"
#include "runtime/bench/vision_bench.h"

namespace yopo::bench {
namespace {

using svg::LineChart;
using svg::map_linear;
using svg::nice_ticks;
using svg::render_svg;
using svg::Series;
using svg::xml_escape;

// ---- statistics ------------------------------------------------------------------------------

TEST(BenchStats, OddCount) {
  const Summary s = summarize({5.0, 1.0, 3.0});
  EXPECT_EQ(s.count, 3);
  EXPECT_DOUBLE_EQ(s.median, 3.0);
  EXPECT_DOUBLE_EQ(s.min, 1.0);
  EXPECT_DOUBLE_EQ(s.max, 5.0);
  EXPECT_DOUBLE_EQ(s.mean, 3.0);
  EXPECT_DOUBLE_EQ(relative_spread(s), 4.0 / 3.0);
}

TEST(BenchStats, EvenCountTakesMeanOfMiddlePair) {
  const Summary s = summarize({4.0, 1.0, 10.0, 2.0});
  EXPECT_DOUBLE_EQ(s.median, 3.0);  // (2 + 4) / 2
  EXPECT_DOUBLE_EQ(s.mean, 4.25);
  EXPECT_DOUBLE_EQ(summarize({7.5}).median, 7.5);
}

TEST(BenchStats, RejectsEmptyAndNaN) {
  EXPECT_THROW(summarize({}), Error);
  EXPECT_THROW(summarize({1.0, std::nan("")}), Error);
  EXPECT_DOUBLE_EQ(relative_spread(summarize({0.0, 0.0})), 0.0);
}

// ---- /proc/self/status ------------------------------------------------------------------------

TEST(BenchProcessMemory, ParsesStatusText) {
  const std::string text =
      "Name:\tyopo\nVmPeak:\t 9999 kB\nVmHWM:\t  123456 kB\nVmRSS:\t   65432 kB\nThreads:\t2\n";
  const ProcessMemory m = parse_proc_status(text);
  EXPECT_EQ(m.hwm_kib, 123456);
  EXPECT_EQ(m.rss_kib, 65432);
  EXPECT_DOUBLE_EQ(kib_to_mib(2048), 2.0);
  EXPECT_DOUBLE_EQ(kib_to_mib(-1), -1.0);
}

TEST(BenchProcessMemory, MissingOrMalformedFieldsStayUnknown) {
  EXPECT_EQ(parse_proc_status("Name:\tx\n").hwm_kib, -1);
  const ProcessMemory m = parse_proc_status("VmHWM:\t abc kB\nVmRSS:\t 12 MB\n");
  EXPECT_EQ(m.hwm_kib, -1);
  EXPECT_EQ(m.rss_kib, -1);
}

TEST(BenchProcessMemory, ReadsThisProcess) {
  const ProcessMemory m = read_process_memory();
  if (m.hwm_kib < 0) GTEST_SKIP() << "/proc/self/status is not available";
  EXPECT_GT(m.rss_kib, 0);
  EXPECT_GE(m.hwm_kib, m.rss_kib);
}

// ---- seeded fills -----------------------------------------------------------------------------

TEST(BenchRandomFill, SplitMix64MatchesPublishedSequence) {
  // SplitMix64 from state 0: the reference implementation's first outputs.
  EXPECT_EQ(splitmix64_at(0, 0), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(splitmix64_at(0, 1), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(splitmix64_at(0, 2), 0x06C45D188009454Full);
}

TEST(BenchRandomFill, IndependentOfThreadCount) {
  const int64_t n = 300001;  // several blocks and a ragged end
  std::vector<float> a(static_cast<size_t>(n)), b(a.size());
  const int prev = omp_get_max_threads();
  omp_set_num_threads(1);
  fill_uniform(a.data(), n, 42, 0.5f);
  omp_set_num_threads(3);
  fill_uniform(b.data(), n, 42, 0.5f);
  omp_set_num_threads(prev);
  EXPECT_EQ(a, b);
  // Element i depends on (seed, i) alone: the top 24 bits of splitmix64_at, mapped to [-s, s).
  const double u = double(splitmix64_at(42, 12345) >> 40) / 16777216.0;
  EXPECT_FLOAT_EQ(a[12345], float((2.0 * u - 1.0) * 0.5));
}

TEST(BenchRandomFill, UniformRangeAndMoments) {
  const int64_t n = 200000;
  std::vector<float> v(static_cast<size_t>(n));
  fill_uniform(v.data(), n, 7, 2.0f);
  double sum = 0, sq = 0;
  for (float x : v) {
    ASSERT_GE(x, -2.0f);
    ASSERT_LT(x, 2.0f);
    sum += x;
    sq += double(x) * x;
  }
  const double mean = sum / double(n), var = sq / double(n) - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(var, 4.0 / 3.0, 0.02);  // (2s)^2 / 12 for s = 2
}

TEST(BenchRandomFill, Bf16IsTheRoundedF32Fill) {
  const int64_t n = 1000;
  std::vector<float> f(static_cast<size_t>(n));
  std::vector<uint16_t> h(static_cast<size_t>(n));
  fill_uniform(f.data(), n, 9, 1.0f);
  fill_uniform_bf16(h.data(), n, 9, 1.0f);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(h[size_t(i)], f32_to_bf16(f[size_t(i)])) << i;
}

TEST(BenchRandomFill, WeightMatrixShapeAndScale) {
  const ops::WeightMatrix w = random_weight_matrix(64, 300, DType::F32, 3);
  EXPECT_EQ(w.rows, 64);
  EXPECT_EQ(w.cols, 300);
  EXPECT_EQ(w.dtype, DType::F32);
  const float* p = w.data.as<float>();
  const double bound = std::sqrt(3.0 / 300.0);
  double sq = 0;
  for (int64_t i = 0; i < 64 * 300; ++i) {
    ASSERT_LE(std::abs(p[i]), bound);
    sq += double(p[i]) * p[i];
  }
  EXPECT_NEAR(sq / (64 * 300), 1.0 / 300.0, 0.05 / 300.0);  // std 1/sqrt(fan-in)
  const ops::WeightMatrix b = random_weight_matrix(2, 3, DType::BF16, 3);
  EXPECT_EQ(b.dtype, DType::BF16);
  EXPECT_EQ(b.data.size(), size_t(2 * 3 * 2));
  EXPECT_THROW(random_weight_matrix(2, 3, DType::F16, 3), Error);
  EXPECT_THROW(random_weight_matrix(0, 3, DType::F32, 3), Error);
}

// ---- model shapes -------------------------------------------------------------------------------

TEST(BenchModels, LlavaDecoderShapes) {
  const DecoderShape s7 = llava15_decoder_shape("llava-1.5-7b");
  EXPECT_EQ(s7.dim, 4096);
  EXPECT_EQ(s7.n_layers, 32);
  EXPECT_EQ(s7.n_heads, 32);
  EXPECT_EQ(s7.head_dim, 128);
  EXPECT_EQ(s7.ffn_dim, 11008);
  EXPECT_EQ(s7.vocab, 32000);
  const DecoderShape s13 = llava15_decoder_shape("13b");
  EXPECT_EQ(s13.dim, 5120);
  EXPECT_EQ(s13.n_layers, 40);
  EXPECT_EQ(s13.n_heads, 40);
  EXPECT_EQ(s13.ffn_dim, 13824);
  EXPECT_THROW(llava15_decoder_shape("llava-1.5-70b"), Error);
}

TEST(BenchModels, ParameterCountsMatchThePublishedModels) {
  // Llama-2-7B / Vicuna-7B-v1.5 (the LLaVA-1.5-7B decoder): 6,738,415,616 parameters;
  // Llama-2-13B / Vicuna-13B-v1.5: 13,015,864,320.
  const DecoderShape s7 = llava15_decoder_shape("7b"), s13 = llava15_decoder_shape("13b");
  EXPECT_EQ(decoder_param_count(bench_llama_config(s7, 32)), 6738415616LL);
  EXPECT_EQ(decoder_param_count(bench_llama_config(s13, 40)), 13015864320LL);
  // CLIPVisionModel openai/clip-vit-large-patch14-336: 303,507,456 parameters (24 layers plus
  // the post-LayerNorm, which LLaVA does not use and the tower does not load).
  EXPECT_EQ(clip_param_count(clip_vit_l14_336(), 24) + 2 * 1024, 303507456LL);
}

TEST(BenchModels, ConfigWithFewerLayersAndLongerRope) {
  const DecoderShape s = llava15_decoder_shape("7b");
  const LlamaConfig c = bench_llama_config(s, 4, 5000);
  EXPECT_EQ(c.n_layers, 4);
  EXPECT_EQ(c.dim, 4096);
  EXPECT_EQ(c.max_position, 5000);
  EXPECT_EQ(bench_llama_config(s, 2).max_position, 4096);
  EXPECT_THROW(bench_llama_config(s, 0), Error);
  EXPECT_THROW(bench_llama_config(s, 33), Error);
}

LlamaConfig tiny_config(int64_t layers = 2) {
  LlamaConfig c;
  c.vocab_size = 50;
  c.dim = 32;
  c.n_layers = layers;
  c.n_heads = 4;
  c.n_kv_heads = 4;
  c.head_dim = 8;
  c.ffn_dim = 48;
  c.max_position = 256;
  return c;
}

TEST(BenchModels, RandomDecoderWeightsHaveTheConfigShapes) {
  const LlamaConfig c = tiny_config(3);
  const LlamaWeights w = random_llama_weights(c, DType::BF16, 5);
  ASSERT_EQ(w.layers.size(), 3u);
  EXPECT_EQ(w.embedding.rows, 50);
  EXPECT_EQ(w.embedding.cols, 32);
  EXPECT_EQ(w.output.rows, 50);
  const LlamaLayerWeights& L = w.layers[1];
  EXPECT_EQ(L.wq.rows, 32);
  EXPECT_EQ(L.wk.rows, 32);
  EXPECT_EQ(L.wo.cols, 32);
  EXPECT_EQ(L.w_gate.rows, 48);
  EXPECT_EQ(L.w_down.rows, 32);
  EXPECT_EQ(L.w_down.cols, 48);
  EXPECT_EQ(L.attn_norm, std::vector<float>(32, 1.0f));
  // Hand count: per layer 4*32*32 + 3*48*32 = 8704 bf16 values + 2*32 f32 norms;
  // embedding and output 2*50*32 bf16; output norm 32 f32.
  EXPECT_EQ(llama_weight_bytes(w), 3 * (8704 * 2 + 64 * 4) + 3200 * 2 + 32 * 4);
  EXPECT_EQ(decoder_param_count(c), 3 * (8704 + 64) + 3200 + 32);
  // Seeded: the same seed gives the same bits, another seed others.
  const LlamaWeights w2 = random_llama_weights(c, DType::BF16, 5);
  const LlamaWeights w3 = random_llama_weights(c, DType::BF16, 6);
  const size_t bytes = size_t(32 * 32 * 2);
  EXPECT_EQ(std::memcmp(w.layers[2].wv.data.data(), w2.layers[2].wv.data.data(), bytes), 0);
  EXPECT_NE(std::memcmp(w.layers[2].wv.data.data(), w3.layers[2].wv.data.data(), bytes), 0);
  EXPECT_NE(std::memcmp(w.layers[2].wv.data.data(), w.layers[2].wk.data.data(), bytes), 0);
}

TEST(BenchModels, RandomClipAndProjectorShapes) {
  ClipVisionConfig c = clip_vit_l14_336();
  EXPECT_EQ(c.n_positions(), 577);
  c.image_size = 28;  // a 2x2 grid keeps the test small
  c.dim = 16;
  c.n_heads = 2;
  c.ffn_dim = 24;
  const ClipVisionWeights w = random_clip_weights(c, 2, DType::F32, 1);
  ASSERT_EQ(w.layers.size(), 2u);
  EXPECT_EQ(w.patch.rows, 16);
  EXPECT_EQ(w.patch.cols, 3 * 14 * 14);
  EXPECT_EQ(w.pos_embd.size(), size_t(5 * 16));
  EXPECT_EQ(w.layers[0].fc1.rows, 24);
  EXPECT_EQ(w.layers[0].b1.size(), 24u);
  EXPECT_EQ(clip_weight_bytes(w), clip_param_count(c, 2) * 4);  // f32: 4 bytes per parameter
  EXPECT_THROW(random_clip_weights(c, 25, DType::F32, 1), Error);
  const MlpProjector p = random_projector(16, 40, 32, DType::F32, 2);
  EXPECT_EQ(p.in_dim(), 16);
  EXPECT_EQ(p.out_dim(), 32);
  EXPECT_EQ(projector_weight_bytes(p), (16 * 40 + 40 * 32 + 40 + 32) * 4);
}

// ---- FLOPs formulas ----------------------------------------------------------------------------

TEST(BenchFlops, ClipTowerAndProjectorByHand) {
  // ViT-L/14-336, 23 layers: per layer Q,K,V,O 2*577*1024*1024*4 = 4,840,226,816; attention
  // 4*577*577*1024 = 1,363,677,184; FFN 2*577*1024*4096*2 = 9,680,453,632; patch embedding
  // 2*576*588*1024 = 693,633,024.
  EXPECT_DOUBLE_EQ(clip_tower_flops(clip_vit_l14_336(), 23), 366033858560.0);
  EXPECT_DOUBLE_EQ(clip_tower_flops(clip_vit_l14_336(), 0, 2), 2 * 693633024.0);
  // mlp2x_gelu 1024 -> 4096 -> 4096 on 576 rows.
  const MlpProjector p = random_projector(1024, 4096, 4096, DType::BF16, 1);
  EXPECT_DOUBLE_EQ(projector_flops(p, 576), 24159191040.0);
}

// ---- prompt -----------------------------------------------------------------------------------

TEST(BenchPrompt, GridSides) {
  EXPECT_EQ(grid_side_for(576), 24);
  EXPECT_EQ(grid_side_for(1152), 34);  // 1156 tokens
  EXPECT_EQ(grid_side_for(2304), 48);
  EXPECT_EQ(grid_side_for(4608), 68);  // 4624 tokens
  EXPECT_EQ(grid_side_for(1), 1);
  EXPECT_EQ(grid_side_for(577), 25);
  EXPECT_THROW(grid_side_for(0), Error);
}

TEST(BenchPrompt, LlavaLayout) {
  const PromptShape s = llava_prompt(24);
  EXPECT_EQ(s.total(), 35 + 576 + 20);
  const TokenLayout l = s.layout();
  ASSERT_EQ(l.images.size(), 1u);
  EXPECT_EQ(l.images[0].start, 35);
  EXPECT_EQ(l.images[0].size(), 576);
  EXPECT_THROW(llava_prompt(0), Error);
  EXPECT_THROW(llava_prompt(24, 0), Error);
}

TEST(BenchPrompt, RowsAreEmbeddingsAndRandomVisualVectors) {
  const LlamaConfig c = tiny_config();
  const auto model = random_llama_model(c, DType::F32, 3);
  const PromptShape s = llava_prompt(3, 4, 2);
  const PromptRows p = make_prompt_rows(*model, s, 11);
  ASSERT_EQ(p.positions.size(), 15u);
  EXPECT_EQ(p.positions[14], 14);
  EXPECT_EQ(p.token_ids[0], c.bos_id);
  for (int64_t i = 4; i < 13; ++i) EXPECT_EQ(p.token_ids[size_t(i)], -1);
  for (int64_t i : {1, 3, 13, 14}) {
    const int32_t id = p.token_ids[size_t(i)];
    ASSERT_GE(id, 3);
    ASSERT_LT(id, 50);
    const float* row = model->weights().embedding.data.as<float>() + int64_t(id) * 32;
    for (int64_t k = 0; k < 32; ++k) EXPECT_EQ(p.embeddings[size_t(i * 32 + k)], row[k]);
  }
  EXPECT_EQ(p.layout.images[0].start, 4);
}

// ---- layer sampling ---------------------------------------------------------------------------

// A YOPO-like 32-layer plan: layers 0-1 all heads, 2-15 the first 15 heads, 16-31 inactive.
PruningPlan yopo_like_plan() {
  PruningPlan p;
  p.name = "yopo-like";
  p.semantics = PruneSemantics::Fast;
  for (int64_t l = 0; l < 32; ++l) {
    LayerPlan lp;
    lp.window_radius = 2;
    lp.ffn_width = 5504;
    if (l >= 16) {
      lp.visual_active = false;
    } else if (l >= 2) {
      lp.head_keep.assign(32, 0);
      for (int h = 0; h < 15; ++h) lp.head_keep[size_t(h)] = 1;
    }
    p.layers.push_back(lp);
  }
  return p;
}

TEST(BenchLayerSample, SameLayerPlanTreatsEmptyHeadsAsAllKept) {
  LayerPlan a, b;
  b.head_keep.assign(4, 1);
  EXPECT_TRUE(same_layer_plan(a, b));
  b.head_keep[2] = 0;
  EXPECT_FALSE(same_layer_plan(a, b));
  LayerPlan c;
  c.ffn_width = 10;
  EXPECT_FALSE(same_layer_plan(a, c));
}

TEST(BenchLayerSample, RunsOfAPlan) {
  const std::vector<LayerRun> r = plan_runs(yopo_like_plan(), 32);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].first, 0);
  EXPECT_EQ(r[0].count, 2);
  EXPECT_EQ(r[1].first, 2);
  EXPECT_EQ(r[1].count, 14);
  EXPECT_EQ(r[2].first, 16);
  EXPECT_EQ(r[2].count, 16);
  EXPECT_EQ(plan_runs(PruningPlan{}, 32).size(), 1u);
  EXPECT_THROW(plan_runs(yopo_like_plan(), 40), Error);
}

TEST(BenchLayerSample, SlotsFollowTheRunLengths) {
  const PruningPlan p = yopo_like_plan();
  // 4 layers: shares 0.25, 1.75, 2 -> one each, then the largest gap (run 2: 1.0 vs 0.75).
  LayerSample s = sample_layers(p, 32, 4);
  EXPECT_EQ(s.slots, (std::vector<int64_t>{1, 1, 2}));
  // Run 0: 0 + floor(0.5*2/1) = 1; run 1: 2 + floor(0.5*14) = 9; run 2: 16 + floor(0.5*16/2)
  // = 20 and 16 + floor(1.5*8) = 28.
  EXPECT_EQ(s.real_layer, (std::vector<int64_t>{1, 9, 20, 28}));
  EXPECT_EQ(s.run_of, (std::vector<int64_t>{0, 1, 2, 2}));
  EXPECT_TRUE(s.complete());
  // 8 layers: shares 0.5, 3.5, 4 -> 1, 3, 4.
  s = sample_layers(p, 32, 8);
  EXPECT_EQ(s.slots, (std::vector<int64_t>{1, 3, 4}));
  // 2 layers: the two longest runs.
  s = sample_layers(p, 32, 2);
  EXPECT_EQ(s.slots, (std::vector<int64_t>{0, 1, 1}));
  EXPECT_FALSE(s.complete());
  EXPECT_EQ(s.real_layer, (std::vector<int64_t>{9, 24}));
  // Dense: one run spread evenly.
  s = sample_layers(PruningPlan{}, 32, 4);
  EXPECT_EQ(s.real_layer, (std::vector<int64_t>{4, 12, 20, 28}));
  EXPECT_EQ(describe_sample(sample_layers(p, 32, 4)), "0-1 x1, 2-15 x1, 16-31 x2");
  EXPECT_THROW(sample_layers(p, 32, 0), Error);
  EXPECT_THROW(sample_layers(p, 32, 33), Error);
  // All 32: every real layer once, in order.
  s = sample_layers(p, 32, 32);
  for (int64_t l = 0; l < 32; ++l) EXPECT_EQ(s.real_layer[size_t(l)], l);
}

TEST(BenchLayerSample, SampledPlanTakesTheRealLayersPlans) {
  const PruningPlan p = yopo_like_plan();
  const LayerSample s = sample_layers(p, 32, 4);
  const PruningPlan q = sampled_plan(p, s);
  ASSERT_EQ(q.layers.size(), 4u);
  EXPECT_EQ(q.semantics, PruneSemantics::Fast);
  EXPECT_TRUE(q.layers[0].head_keep.empty());
  EXPECT_EQ(q.layers[1].head_keep.size(), 32u);
  EXPECT_FALSE(q.layers[2].visual_active);
  EXPECT_TRUE(sampled_plan(PruningPlan{}, sample_layers(PruningPlan{}, 32, 4)).layers.empty());
}

TEST(BenchLayerSample, ExtrapolationByRuns) {
  const LayerSample s = sample_layers(yopo_like_plan(), 32, 4);
  // Built layers cost 10 (run 0), 6 (run 1), 1 and 3 (run 2): 2*10 + 14*6 + 16*2 + 5 outside.
  const Extrapolated e = extrapolate(s, {10, 6, 1, 3}, 5);
  EXPECT_DOUBLE_EQ(e.total, 20 + 84 + 32 + 5);
  EXPECT_FALSE(e.approximate);
  EXPECT_THROW(extrapolate(s, {1, 2}, 0), Error);
}

TEST(BenchLayerSample, MissingRunIsScaledFromTheNearestReference) {
  const LayerSample s = sample_layers(yopo_like_plan(), 32, 2);  // runs 1 and 2 sampled
  std::vector<double> ref(32);
  for (int64_t l = 0; l < 32; ++l) ref[size_t(l)] = l < 2 ? 100 : l < 16 ? 60 : 10;
  // Run 0 (ref 100) is nearest run 1 (ref 60, cost 6): 6 * 100 / 60 = 10 per layer.
  const Extrapolated e = extrapolate(s, {6, 2}, 0, ref);
  EXPECT_TRUE(e.approximate);
  EXPECT_DOUBLE_EQ(e.total, 2 * 10 + 14 * 6 + 16 * 2);
  EXPECT_THROW(extrapolate(s, {6, 2}, 0), Error);  // no reference to estimate with
}

// ---- stage attribution ------------------------------------------------------------------------

TEST(BenchStageTimer, AttributesIntervalsToLayersAndStages) {
  using C = std::chrono::steady_clock;
  const C::time_point t0{};
  auto at = [&](int ms) { return t0 + std::chrono::milliseconds(ms); };
  // A dense layer 0 (with Qcur/Kcur/Vcur) and a pruned layer 1 (without).
  const std::vector<HookEvent> ev = {
      {"inp_embd", -1, at(1)},      {"attn_norm", 0, at(2)}, {"Qcur", 0, at(6)},
      {"Kcur", 0, at(6)},           {"Vcur", 0, at(6)},      {"kqv_out", 0, at(9)},
      {"ffn_inp", 0, at(11)},       {"ffn_norm", 0, at(12)}, {"l_out", 0, at(20)},
      {"attn_norm", 1, at(21)},     {"kqv_out", 1, at(25)},  {"ffn_inp", 1, at(26)},
      {"ffn_norm", 1, at(27)},      {"l_out", 1, at(30)},    {"result_norm", -1, at(31)},
      {"result_output", -1, at(34)}};
  const StageBreakdown b = attribute_events(ev, 2, t0, at(35));
  EXPECT_DOUBLE_EQ(b.layer_ms[0], 19.0);  // 1 -> 20
  EXPECT_DOUBLE_EQ(b.layer_ms[1], 10.0);  // 20 -> 30
  EXPECT_DOUBLE_EQ(b.outside_ms, 1.0 + 4.0 + 1.0);
  EXPECT_DOUBLE_EQ(b.total_ms, 35.0);
  auto st = [&](Stage s) { return b.stage_ms[size_t(s)]; };
  EXPECT_DOUBLE_EQ(st(Stage::Setup), 1.0);
  EXPECT_DOUBLE_EQ(st(Stage::AttnNorm), 1.0 + 1.0);
  EXPECT_DOUBLE_EQ(st(Stage::Qkv), 4.0);
  EXPECT_DOUBLE_EQ(st(Stage::Attention), 3.0);
  EXPECT_DOUBLE_EQ(st(Stage::QkvAttention), 4.0);
  EXPECT_DOUBLE_EQ(st(Stage::OutProj), 2.0 + 1.0);
  EXPECT_DOUBLE_EQ(st(Stage::FfnNorm), 1.0 + 1.0);
  EXPECT_DOUBLE_EQ(st(Stage::Ffn), 8.0 + 3.0);
  EXPECT_DOUBLE_EQ(st(Stage::Head), 4.0 + 1.0);
  EXPECT_THROW(attribute_events(ev, 3, t0, at(35)), Error);  // layer 2 never ends

  const StageBreakdown m = mean_breakdown({b, b});
  EXPECT_DOUBLE_EQ(m.layer_ms[1], 10.0);
  EXPECT_STREQ(stage_name(Stage::QkvAttention), "qkv_proj+attention");
}

// ---- window spans -----------------------------------------------------------------------------

TEST(BenchAttention, WindowSpansByHand) {
  std::vector<int32_t> off;
  std::vector<ops::KeySpan> sp;
  // 3x3 grid after 2 text rows, radius 1: cell (r, c) is row 2 + 3r + c.
  visual_window_spans(2, 3, 3, 1, off, sp);
  ASSERT_EQ(off.size(), 10u);
  // Query (0, 0): text [0, 2), grid rows 0-1 cols 0-1 -> [2, 4), [5, 7).
  ASSERT_EQ(off[1] - off[0], 3);
  EXPECT_EQ(sp[0].begin, 0);
  EXPECT_EQ(sp[0].end, 2);
  EXPECT_EQ(sp[0].visual, 0);
  EXPECT_EQ(sp[1].begin, 2);
  EXPECT_EQ(sp[1].end, 4);
  EXPECT_EQ(sp[1].visual, 1);
  EXPECT_EQ(sp[2].begin, 5);
  EXPECT_EQ(sp[2].end, 7);
  // Query (1, 1) (index 4): text and the whole 3x3 grid, one span per grid row.
  ASSERT_EQ(off[5] - off[4], 4);
  EXPECT_EQ(sp[size_t(off[4]) + 1].begin, 2);
  EXPECT_EQ(sp[size_t(off[4]) + 3].end, 11);
  // Without a prefix there is no text span.
  visual_window_spans(0, 1, 2, 0, off, sp);
  ASSERT_EQ(sp.size(), 2u);
  EXPECT_EQ(sp[1].begin, 1);
  EXPECT_EQ(sp[1].end, 2);
  EXPECT_THROW(visual_window_spans(0, 0, 2, 1, off, sp), Error);
}

TEST(BenchAttention, WindowKeyTotalOfLlavaGrid) {
  std::vector<int32_t> off;
  std::vector<ops::KeySpan> sp;
  visual_window_spans(35, 24, 24, 2, off, sp);
  int64_t visual = 0, text = 0;
  for (const ops::KeySpan& s : sp) (s.visual ? visual : text) += s.end - s.begin;
  // Clipped widths along one axis of 24 with radius 2: 3, 4, 5 x 20, 4, 3 = 114; 114^2.
  EXPECT_EQ(visual, 12996);
  EXPECT_EQ(text, 576 * 35);
}

// ---- small helpers ----------------------------------------------------------------------------

TEST(BenchHelpers, GemmShapeParsing) {
  const GemmShape s = parse_gemm_shape("576x4096x11008");
  EXPECT_EQ(s.m, 576);
  EXPECT_EQ(s.k, 4096);
  EXPECT_EQ(s.n, 11008);
  EXPECT_DOUBLE_EQ(s.flops(), 2.0 * 576 * 4096 * 11008);
  for (const char* bad : {"", "576x4096", "576x4096x", "1x2x3x4", "0x1x1", "ax1x1", "1x-2x3"})
    EXPECT_THROW(parse_gemm_shape(bad), Error) << bad;
}

TEST(BenchHelpers, Argmax) {
  const float v[] = {1.0f, 5.0f, -2.0f, 5.0f};
  EXPECT_EQ(argmax(v, 4), 1);
  EXPECT_THROW(argmax(v, 0), Error);
}

TEST(BenchHelpers, MethodExpansion) {
  const std::vector<MethodSpec> m =
      expand_methods({"dense", "yopo-25", "fastv"}, {PruneSemantics::Exact, PruneSemantics::Fast});
  ASSERT_EQ(m.size(), 5u);  // fastv: one row per budget
  EXPECT_EQ(m[0].name, "dense");
  EXPECT_EQ(m[0].semantics_label(), "n/a");
  EXPECT_EQ(m[1].semantics_label(), "exact");
  EXPECT_EQ(m[2].semantics_label(), "fast");
  EXPECT_TRUE(m[3].baseline);
  EXPECT_EQ(m[3].semantics_label(), "n/a");
  EXPECT_EQ(m[3].name, "fastv@25");
  EXPECT_EQ(m[4].name, "fastv@12");
  EXPECT_DOUBLE_EQ(m[4].budget, 0.12);
  EXPECT_THROW(expand_methods({"pdrop@30"}, {PruneSemantics::Exact}), Error);
  EXPECT_THROW(expand_methods({"dense", "dense"}, {PruneSemantics::Exact}), Error);
  EXPECT_THROW(expand_methods({}, {PruneSemantics::Exact}), Error);
  EXPECT_TRUE(is_token_pruning_baseline("sparsevlm"));
  EXPECT_FALSE(is_token_pruning_baseline("yopo-12"));
}

// ---- writers ----------------------------------------------------------------------------------

TEST(BenchWriters, TextTable) {
  TextTable t({"name", "ms"});
  t.add_row({"dense", "12.5"});
  t.add_row({"yopo-25", "3"});
  EXPECT_EQ(t.render(),
            "| name    |   ms |\n"
            "|---------|-----:|\n"
            "| dense   | 12.5 |\n"
            "| yopo-25 |    3 |\n");
  EXPECT_THROW(t.add_row({"x"}), Error);
  EXPECT_EQ(fixed(3.14159, 2), "3.14");
  EXPECT_EQ(fixed(std::numeric_limits<double>::infinity(), 1), "-");
}

TEST(BenchWriters, CsvQuoting) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_line({"x", "", "y z", "1,5"}), "x,,y z,\"1,5\"\n");
}

void expect_ticks(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << i;
}

TEST(BenchWriters, NiceTicks) {
  expect_ticks(nice_ticks(0, 9.3), {0, 2, 4, 6, 8, 10});
  expect_ticks(nice_ticks(576, 4624), {0, 1000, 2000, 3000, 4000, 5000});
  expect_ticks(nice_ticks(0, 0.37), {0, 0.1, 0.2, 0.3, 0.4});
  expect_ticks(nice_ticks(3, 3), {2, 2.5, 3, 3.5, 4});
  expect_ticks(nice_ticks(-7, 3), {-8, -6, -4, -2, 0, 2, 4});
  EXPECT_THROW(nice_ticks(2, 1), Error);
  EXPECT_THROW(nice_ticks(0, std::nan("")), Error);
  EXPECT_DOUBLE_EQ(map_linear(5, 0, 10, 100, 200), 150);
  EXPECT_DOUBLE_EQ(map_linear(0, 0, 10, 300, 100), 300);
}

TEST(BenchWriters, SvgGeometryAndEscaping) {
  EXPECT_EQ(xml_escape("a<b & \"c\">'d'"), "a&lt;b &amp; &quot;c&quot;&gt;&apos;d&apos;");
  LineChart c;
  c.title = "t <1>";
  c.series.push_back({"s&1", {{0, 0}, {10, 10}}, false});
  const std::string svg = render_svg({c});
  // Plot area: x 72..470 (640 - 170), y 36..312 (360 - 48); ticks 0..10 on both axes.
  EXPECT_NE(svg.find("<polyline points=\"72.0,312.0 470.0,36.0\""), std::string::npos) << svg;
  EXPECT_NE(svg.find("t &lt;1&gt;"), std::string::npos);
  EXPECT_NE(svg.find(">s&amp;1</text>"), std::string::npos);
  EXPECT_EQ(svg.rfind("</svg>\n"), svg.size() - 7);
  EXPECT_EQ(svg.find("<svg "), svg.find('\n') + 1);
  LineChart empty;
  EXPECT_THROW(render_svg({empty}), Error);
  EXPECT_THROW(render_svg({}), Error);
}

BenchReport synthetic_report() {
  BenchReport r;
  r.setup.shape = "llava-1.5-7b";
  r.setup.dtype = "bf16";
  r.setup.layers = 2;
  r.setup.full_layers = 32;
  r.peak.gflops = 500;
  MethodResult d;
  d.method = "dense";
  d.semantics = "n/a";
  d.visual_tokens = 576;
  d.grid = 24;
  d.layers = 2;
  d.prefill_ms = summarize({100, 90, 110});
  d.executed_gflop = 40;
  d.effective_gflops = 400;
  d.peak_ratio = 0.8;
  d.decode_tok_s = 10.0;
  d.peak_rss_mb = 1000;
  d.extrapolated_full_depth_prefill_ms = 1600;
  MethodResult y = d;
  y.method = "yopo-12";
  y.semantics = "fast";
  y.prefill_ms = summarize({20});
  y.speedup_vs_dense = 5.0;
  y.flops_ratio_vs_dense = 8.0;
  y.speedup_efficiency = 5.0 / 8.0;
  y.rss_ratio = 1.2;
  MethodResult f;
  f.method = "fastv";
  f.semantics = "n/a";
  f.status = "not implemented";
  f.visual_tokens = 576;
  r.results = {d, y, f};
  AttentionPoint a;
  a.visual_tokens = 576;
  a.grid = 24;
  a.radius = 2;
  a.dense_ms = summarize({2.0});
  a.window_ms = summarize({0.5});
  r.attention_sweep.push_back(a);
  return r;
}

TEST(BenchWriters, JsonHasTheAgreedFields) {
  const nlohmann::json j = report_to_json(synthetic_report());
  EXPECT_DOUBLE_EQ(j.at("gemm_peak_gflops").get<double>(), 500);
  const nlohmann::json& res = j.at("results");
  ASSERT_EQ(res.size(), 3u);
  for (const char* key :
       {"method", "semantics", "visual_tokens", "layers", "prefill_ms", "prefill_ms_min",
        "prefill_ms_max", "decode_tok_s", "executed_gflop", "effective_gflops", "peak_ratio",
        "speedup_vs_dense", "flops_ratio_vs_dense", "peak_rss_mb",
        "extrapolated_full_depth_prefill_ms"})
    for (const nlohmann::json& row : res) EXPECT_TRUE(row.contains(key)) << key;
  EXPECT_DOUBLE_EQ(res[0].at("prefill_ms").get<double>(), 100);
  EXPECT_DOUBLE_EQ(res[0].at("prefill_ms_min").get<double>(), 90);
  EXPECT_DOUBLE_EQ(res[0].at("prefill_ms_max").get<double>(), 110);
  EXPECT_TRUE(res[0].at("speedup_vs_dense").is_null());
  EXPECT_DOUBLE_EQ(res[1].at("speedup_vs_dense").get<double>(), 5.0);
  EXPECT_EQ(res[2].at("status"), "not implemented");
  EXPECT_TRUE(res[2].at("prefill_ms").is_null());
  EXPECT_TRUE(res[2].at("peak_rss_mb").is_null());
  EXPECT_TRUE(j.at("vision").is_null());
  EXPECT_DOUBLE_EQ(j.at("attention_sweep")[0].at("window_us_per_visual_token").get<double>(),
                   500.0 / 576.0);
}

TEST(BenchWriters, SweepCsvAndText) {
  const BenchReport r = synthetic_report();
  EXPECT_EQ(sweep_csv(r),
            "series,method,semantics,visual_tokens,grid,layers,ms_median,ms_min,ms_max,"
            "us_per_visual_token\n"
            "prefill,dense,n/a,576,24,2,100.000,90.000,110.000,173.611\n"
            "prefill,yopo-12,fast,576,24,2,20.000,20.000,20.000,34.722\n"
            "attention_dense,causal,n/a,576,24,1,2.000,2.000,2.000,3.472\n"
            "attention_window,window,n/a,576,24,1,0.500,0.500,0.500,0.868\n");
  const std::string text = report_to_text(r, true);
  EXPECT_NE(text.find("EXTRAPOLATED"), std::string::npos);
  EXPECT_NE(text.find("not implemented"), std::string::npos);
  const std::string svg = sweep_svg(r);
  EXPECT_NE(svg.find("yopo-12 (fast)"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);  // fast series are dashed
}

TEST(BenchWriters, TargetsOfAReport) {
  BenchReport r = synthetic_report();
  AttentionPoint b = r.attention_sweep.front();
  b.visual_tokens = 4624;
  b.window_ms = summarize({0.5 * 4624 / 576 * 1.1});  // 10% more per token than at 576
  r.attention_sweep.push_back(b);
  const std::vector<TargetCheck> t = evaluate_targets(r);
  // dense peak ratio, yopo-12 efficiency, window flatness, RSS of dense and yopo-12.
  ASSERT_EQ(t.size(), 5u);
  EXPECT_EQ(t[0].subject, "dense, 576 visual");
  EXPECT_TRUE(t[0].met());  // 0.8 >= 0.7
  EXPECT_EQ(t[1].subject, "yopo-12 (fast), 576 visual");
  EXPECT_DOUBLE_EQ(t[1].value, 0.625);
  EXPECT_FALSE(t[1].met());
  EXPECT_NEAR(t[2].value, 1.1, 1e-12);
  EXPECT_TRUE(t[2].met());   // <= 1.2
  EXPECT_TRUE(t[3].met());   // dense RSS ratio 0 (unset) <= 1.15
  EXPECT_FALSE(t[4].met());  // 1.2 > 1.15
  const nlohmann::json j = report_to_json(r);
  EXPECT_EQ(j.at("targets").size(), 5u);
  EXPECT_EQ(j.at("targets")[1].at("met"), false);
}

// ---- a decoder run on a tiny model: structure only, no timing -----------------------------

TEST(BenchDecoder, TinyRunReportsFlopsStagesAndDecode) {
  const LlamaConfig c = tiny_config(2);
  const auto model = random_llama_model(c, DType::F32, 1);
  const PromptRows p = make_prompt_rows(*model, llava_prompt(3, 4, 2), 2);
  DecoderRunConfig rc;
  rc.threads = 1;
  rc.reps = 2;
  rc.decode_steps = 3;
  const DecoderRunResult r = run_decoder(*model, p, nullptr, rc);
  EXPECT_EQ(r.prefill_samples_ms.size(), 2u);
  EXPECT_EQ(r.prefill_stages.layer_ms.size(), 2u);
  EXPECT_EQ(r.decode_tok_s.count, 2);
  // Dense prefill of 15 rows, by the counter's convention: per row and layer projections
  // 2*32*(4*32) and FFN 6*32*48; attention 4*8*4 per (query, key) with i+1 keys for row i;
  // the head 2*32*50 for the last row.
  const double per_row = 2.0 * 32 * 128 + 6.0 * 32 * 48;
  const double attn = 4.0 * 8 * 4 * (15.0 * 16 / 2);
  EXPECT_DOUBLE_EQ(r.prefill_flops.total(), 2 * (15 * per_row + attn) + 2.0 * 32 * 50);
  // One decode step at cache position 15..17: the mean over three steps.
  const double step_attn = 4.0 * 8 * 4 * (16 + 17 + 18) / 3.0;
  EXPECT_NEAR(r.decode_flops.total(), 2 * (per_row + step_attn) + 2.0 * 32 * 50, 1e-6);
  EXPECT_EQ(r.kv_cache_bytes, int64_t(2 * 2 * 18 * 32 * 4));
}

}  // namespace
}  // namespace yopo::bench
