// Calibration of visual head masks (yopo-method.md, item 2 "How a mask is made"): run the unpruned
// model on sample prompts; for every layer l, head h and sample, sum over ALL query rows of the
// prefill the causal softmax attention mass on
//   V: visual keys (rows of an image segment),
//   S: text keys before the first image (the system prompt, BOS included),
//   T: text keys after the first image's start (the question, "ASSISTANT:", ...),
// and take ratio = V / (S + T). A head is active on a sample when ratio > alpha; it is kept when
// it is active on more than min_active of the samples; layers 0 and 1 keep every head.
//
// The attention is recomputed from the decoder's post-RoPE queries and keys (its DebugHook), in
// float32 with scale 1/sqrt(head_dim), as the dense prefill computes it; masses are summed in
// double. GQA: query head h reads KV head h / (n_heads / n_kv_heads).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/llama.h"
#include "models/token_layout.h"
#include "ops/context.h"
#include "prune/head_mask.h"

namespace yopo {

// Attention masses of one sample, per (layer, head), each summed over the query rows.
struct SampleAttention {
  int64_t n_layers = 0, n_heads = 0;
  int64_t rows = 0;                          // query rows of the prefill
  std::vector<double> visual, system, text;  // [n_layers * n_heads], index l * n_heads + h

  size_t index(int64_t l, int64_t h) const { return size_t(l * n_heads + h); }
  // V / (S + T).
  double ratio(int64_t l, int64_t h) const;
  // V / (V + S + T): the share of the attention mass on visual keys.
  double visual_share(int64_t l, int64_t h) const;
};

struct AttentionGeometry {
  int64_t n_heads = 0, n_kv_heads = 0, head_dim = 0;
};

// Adds the masses of one layer to out (at layer l) from the post-RoPE queries q (n rows of
// n_heads * head_dim, row stride ldq) and keys k (n rows of n_kv_heads * head_dim, stride ldk) of
// a whole prompt with no cache history: query i attends keys 0..i. The layout says which rows are
// visual; it must hold at least one image and the prompt at least one text row. threads > 1 runs
// heads in parallel (the result does not depend on the thread count).
void add_layer_attention_masses(const float* q, int64_t ldq, const float* k, int64_t ldk, int64_t n,
                                const AttentionGeometry& g, const TokenLayout& layout, int64_t l,
                                SampleAttention& out, int threads = 1);

// Runs the dense prefill of one prompt (embeddings [n, dim], RoPE positions, visual layout) on a
// fresh cache and measures every layer's attention masses.
SampleAttention measure_prefill_attention(const LlamaModel& model, ops::Context& ctx,
                                          const float* embeddings, const int32_t* positions,
                                          int64_t n, const TokenLayout& layout);

// The per-(layer, head, sample) ratios of a calibration run.
class CalibrationData {
 public:
  CalibrationData(int64_t n_layers, int64_t n_heads);
  // Throws when the sample's shape differs.
  void add(const SampleAttention& s);
  // Adds a sample given directly by its ratios and visual shares ([n_layers * n_heads] each).
  void add_ratios(std::vector<double> ratios, std::vector<double> visual_shares);

  int64_t n_layers() const { return n_layers_; }
  int64_t n_heads() const { return n_heads_; }
  int64_t n_samples() const { return int64_t(ratios_.size()); }
  double ratio(int64_t sample, int64_t l, int64_t h) const {
    return ratios_[size_t(sample)][size_t(l * n_heads_ + h)];
  }
  double visual_share(int64_t sample, int64_t l, int64_t h) const {
    return shares_[size_t(sample)][size_t(l * n_heads_ + h)];
  }

 private:
  int64_t n_layers_, n_heads_;
  std::vector<std::vector<double>> ratios_, shares_;
};

inline constexpr double kDefaultMinActive = 0.4;
inline constexpr int64_t kAlwaysKeptLayers = 2;  // layers 0 and 1 keep every head

// Number of samples on which head (l, h) is active (ratio > alpha).
int64_t active_count(const CalibrationData& d, int64_t l, int64_t h, double alpha);
// The keep mask [n_layers, n_heads]: a head is kept when active on more than min_active of the
// samples (count > min_active * n_samples); layers below kAlwaysKeptLayers keep every head.
// Throws when there are no samples or min_active is outside [0, 1].
HeadMask calibrate_head_mask(const CalibrationData& d, double alpha,
                             double min_active = kDefaultMinActive);

struct AlphaSearch {
  double alpha = 0;
  double average_kept = 0;  // kept heads per layer, averaged over all layers (0 and 1 included)
  HeadMask mask;
};
// The alpha whose mask's average kept heads per layer (average_kept_heads: over ALL layers, as the
// released masks count them) is closest to target. The candidates are one alpha per distinct mask
// (midpoints between consecutive distinct observed ratios, plus one below and one above them all),
// searched by bisection on the monotone kept count; on a tie the alpha keeping more heads wins.
// Throws when target is outside [0, n_heads].
AlphaSearch find_alpha_for_target(const CalibrationData& d, double target,
                                  double min_active = kDefaultMinActive);

// One layer of the cross-modal attention profile.
struct LayerProfile {
  int64_t layer = 0;
  double visual_share = 0;  // mean over samples and heads of V / (V + S + T)
  double mean_ratio = 0;    // mean over samples and heads of V / (S + T)
  int64_t kept_heads = 0;   // in the mask
};
std::vector<LayerProfile> layer_profile(const CalibrationData& d, const HeadMask& mask);

// CSV with the header "layer,visual_share,mean_ratio,kept_heads".
std::string profile_csv(const std::vector<LayerProfile>& profile);
// Writes text to path (throws yopo::Error naming the file on failure).
void write_calibration_text(const std::string& path, const std::string& text);

}  // namespace yopo
