// Rotary position embeddings as HF transformers' LLaMA computes them ("rotate_half": element i
// pairs with i + head_dim / 2), in float32 like HF.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace yopo::ops {

// The rope_scaling of a config. type: "none" (also "default" or ""), "linear" (positions
// divided by factor), "dynamic" (NTK: base scaled once the sequence outgrows
// max_position_embeddings, as HF 4.36 LlamaDynamicNTKScalingRotaryEmbedding) or "llama3".
struct RopeScaling {
  std::string type = "none";
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  int64_t original_max_position = 8192;                  // llama3
};

class Rope {
 public:
  Rope() = default;
  // Throws yopo::Error for an odd or non-positive head_dim, theta <= 0, an unknown scaling type
  // or bad scaling parameters.
  Rope(int64_t head_dim, double theta, RopeScaling scaling, int64_t max_position_embeddings);

  // Rotates x in place: rows of n_heads * head_dim floats (row stride ld), row i at position
  // pos[i] (>= 0). seq_len is the current total sequence length (only "dynamic" uses it).
  void apply(float* x, int64_t rows, int64_t n_heads, int64_t ld, const int32_t* pos,
             int64_t seq_len) const;

  int64_t head_dim() const { return head_dim_; }
  // The head_dim / 2 inverse frequencies in use at this sequence length.
  std::vector<float> inv_freq(int64_t seq_len) const;
  // cos and sin (head_dim / 2 each) of position pos at this sequence length.
  void cos_sin(int64_t pos, int64_t seq_len, float* cos, float* sin) const;

 private:
  bool dynamic_active(int64_t seq_len) const;
  float position_value(int64_t pos) const;

  int64_t head_dim_ = 0;
  double theta_ = 10000.0;
  RopeScaling scaling_;
  int64_t max_position_ = 0;
  std::vector<float> inv_freq_;               // without the dynamic NTK base change
  int64_t table_len_ = 0;                     // positions with cached cos/sin
  std::vector<float> cos_table_, sin_table_;  // [table_len_, head_dim / 2]
};

}  // namespace yopo::ops
