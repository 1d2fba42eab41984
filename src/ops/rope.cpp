#include "ops/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace yopo::ops {

namespace {

// Positions whose cos/sin are precomputed (beyond: computed on the fly).
constexpr int64_t kMaxTable = 4096;

// HF: inv_freq = 1.0 / (base ** (torch.arange(0, d, 2).float() / d)), all float32 tensors.
// The power is rounded from double (torch's float pow is within an ulp of that).
std::vector<float> base_inv_freq(int64_t head_dim, double base) {
  std::vector<float> f(size_t(head_dim / 2));
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    const float e = float(2 * i) / float(head_dim);
    const float p = float(std::pow(double(float(base)), double(e)));
    f[size_t(i)] = 1.0f / p;
  }
  return f;
}

// HF _compute_llama3_parameters in float32. Python scalar op float32 tensor keeps float32, and
// `scalar / tensor` is tensor.reciprocal() * scalar (torch's __rtruediv__).
void llama3_adjust(std::vector<float>& inv_freq, const RopeScaling& s) {
  const float factor = float(s.factor);
  const float low = float(s.low_freq_factor);
  const double old_ctx = double(s.original_max_position);
  // Python floats, compared with float32 tensors after rounding to float32.
  const float low_wavelen = float(old_ctx / s.low_freq_factor);
  const float high_wavelen = float(old_ctx / s.high_freq_factor);
  const float span = float(s.high_freq_factor - s.low_freq_factor);
  for (float& f : inv_freq) {
    const float wavelen = (1.0f / f) * float(2.0 * std::numbers::pi);
    const float scaled = wavelen > low_wavelen ? f / factor : f;
    const float smooth = ((1.0f / wavelen) * float(old_ctx) - low) / span;
    const float smoothed = (1.0f - smooth) * scaled / factor + smooth * scaled;
    const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
    f = medium ? smoothed : scaled;
  }
}

}  // namespace

Rope::Rope(int64_t head_dim, double theta, RopeScaling scaling, int64_t max_position_embeddings)
    : head_dim_(head_dim),
      theta_(theta),
      scaling_(std::move(scaling)),
      max_position_(max_position_embeddings) {
  check(head_dim > 0 && head_dim % 2 == 0, "RoPE head_dim must be positive and even, got ",
        head_dim);
  check(theta > 0 && std::isfinite(theta), "RoPE theta must be positive, got ", theta);
  check(max_position_embeddings > 0, "RoPE max_position_embeddings must be positive, got ",
        max_position_embeddings);
  std::string& type = scaling_.type;
  if (type.empty() || type == "default") type = "none";
  check(type == "none" || type == "linear" || type == "dynamic" || type == "llama3",
        "unsupported rope_scaling type \"", type, "\" (supported: linear, dynamic, llama3)");
  if (type != "none")
    check(scaling_.factor > 0 && std::isfinite(scaling_.factor), "rope_scaling ", type,
          ": factor must be positive, got ", scaling_.factor);
  if (type == "llama3") {
    check(scaling_.low_freq_factor > 0 && scaling_.high_freq_factor > scaling_.low_freq_factor,
          "rope_scaling llama3: need 0 < low_freq_factor < high_freq_factor, got ",
          scaling_.low_freq_factor, ", ", scaling_.high_freq_factor);
    check(scaling_.original_max_position > 0,
          "rope_scaling llama3: original_max_position_embeddings must be positive, got ",
          scaling_.original_max_position);
  }
  inv_freq_ = base_inv_freq(head_dim, theta);
  if (type == "llama3") llama3_adjust(inv_freq_, scaling_);

  const int64_t half = head_dim / 2;
  table_len_ = std::min(max_position_, kMaxTable);
  cos_table_.resize(size_t(table_len_ * half));
  sin_table_.resize(size_t(table_len_ * half));
  for (int64_t p = 0; p < table_len_; ++p) {
    const float t = position_value(p);
    for (int64_t i = 0; i < half; ++i) {
      const float f = t * inv_freq_[size_t(i)];
      cos_table_[size_t(p * half + i)] = float(std::cos(double(f)));
      sin_table_[size_t(p * half + i)] = float(std::sin(double(f)));
    }
  }
}

bool Rope::dynamic_active(int64_t seq_len) const {
  return scaling_.type == "dynamic" && seq_len > max_position_;
}

float Rope::position_value(int64_t pos) const {
  const float t = float(pos);
  return scaling_.type == "linear" ? t / float(scaling_.factor) : t;
}

std::vector<float> Rope::inv_freq(int64_t seq_len) const {
  if (!dynamic_active(seq_len)) return inv_freq_;
  // HF 4.36 LlamaDynamicNTKScalingRotaryEmbedding: base computed with Python floats.
  const double d = double(head_dim_), f = scaling_.factor;
  const double base =
      theta_ * std::pow(f * double(seq_len) / double(max_position_) - (f - 1.0), d / (d - 2.0));
  return base_inv_freq(head_dim_, base);
}

void Rope::cos_sin(int64_t pos, int64_t seq_len, float* cos, float* sin) const {
  check(head_dim_ > 0, "RoPE used before being configured");
  check(pos >= 0, "RoPE position must not be negative, got ", pos);
  const int64_t half = head_dim_ / 2;
  if (pos < table_len_ && !dynamic_active(seq_len)) {
    std::copy_n(cos_table_.data() + pos * half, half, cos);
    std::copy_n(sin_table_.data() + pos * half, half, sin);
    return;
  }
  const std::vector<float> inv = inv_freq(seq_len);
  const float t = position_value(pos);
  for (int64_t i = 0; i < half; ++i) {
    const float f = t * inv[size_t(i)];
    cos[i] = float(std::cos(double(f)));
    sin[i] = float(std::sin(double(f)));
  }
}

void Rope::apply(float* x, int64_t rows, int64_t n_heads, int64_t ld, const int32_t* pos,
                 int64_t seq_len) const {
  check(head_dim_ > 0, "RoPE used before being configured");
  check(rows >= 0 && n_heads > 0, "RoPE: bad shape ", rows, " rows x ", n_heads, " heads");
  check(ld >= n_heads * head_dim_, "RoPE: row stride ", ld, " is below ", n_heads, " heads x ",
        head_dim_);
  if (rows == 0) return;
  check(x && pos, "RoPE: null data or positions");
  const int64_t half = head_dim_ / 2;
  const bool dynamic = dynamic_active(seq_len);
  std::vector<float> inv, cs;  // filled for positions outside the table

  for (int64_t r = 0; r < rows; ++r) {
    const int64_t p = pos[r];
    check(p >= 0, "RoPE position must not be negative, got ", p, " in row ", r);
    const float* c;
    const float* s;
    if (p < table_len_ && !dynamic) {
      c = cos_table_.data() + p * half;
      s = sin_table_.data() + p * half;
    } else {
      if (inv.empty()) {
        inv = inv_freq(seq_len);
        cs.resize(size_t(2 * half));
      }
      const float t = position_value(p);
      for (int64_t i = 0; i < half; ++i) {
        const float f = t * inv[size_t(i)];
        cs[size_t(i)] = float(std::cos(double(f)));
        cs[size_t(half + i)] = float(std::sin(double(f)));
      }
      c = cs.data();
      s = cs.data() + half;
    }
    float* xr = x + r * ld;
    for (int64_t h = 0; h < n_heads; ++h) {
      float* a = xr + h * head_dim_;
      float* b = a + half;
      // HF: q * cos + rotate_half(q) * sin with rotate_half(q) = cat(-q2, q1).
#pragma omp simd
      for (int64_t i = 0; i < half; ++i) {
        const float x1 = a[i], x2 = b[i];
        a[i] = x1 * c[i] - x2 * s[i];
        b[i] = x2 * c[i] + x1 * s[i];
      }
    }
  }
}

}  // namespace yopo::ops
