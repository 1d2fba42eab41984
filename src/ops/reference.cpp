#include "ops/reference.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace yopo::ops::ref {

namespace {
double weight_value(const WeightView& w, int64_t r, int64_t c) {
  const int64_t i = r * w.ld + c;
  if (w.dtype == DType::BF16) return bf16_to_f32(static_cast<const uint16_t*>(w.data)[i]);
  return static_cast<const float*>(w.data)[i];
}
}  // namespace

void matmul(const float* x, int64_t M, int64_t ldx, const WeightView& w, float* y, int64_t ldy,
            bool accumulate) {
  check(w.dtype == DType::F32 || w.dtype == DType::BF16, "ref::matmul: bad dtype");
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < w.rows; ++n) {
      double s = 0.0;
      for (int64_t k = 0; k < w.cols; ++k) {
        float xv = x[m * ldx + k];
        if (w.dtype == DType::BF16) xv = bf16_to_f32(f32_to_bf16(xv));
        s += double(xv) * weight_value(w, n, k);
      }
      float& out = y[m * ldy + n];
      out = accumulate ? float(double(out) + s) : float(s);
    }
  }
}

void rms_norm(const float* x, int64_t rows, int64_t dim, int64_t ldx, const float* weight,
              float eps, float* y, int64_t ldy) {
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0.0;
    for (int64_t i = 0; i < dim; ++i) ss += double(x[r * ldx + i]) * x[r * ldx + i];
    const double inv = 1.0 / std::sqrt(ss / double(dim) + double(eps));
    for (int64_t i = 0; i < dim; ++i)
      y[r * ldy + i] = float(double(weight[i]) * (double(x[r * ldx + i]) * inv));
  }
}

void layer_norm(const float* x, int64_t rows, int64_t dim, int64_t ldx, const float* w,
                const float* b, float eps, float* y, int64_t ldy) {
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0.0;
    for (int64_t i = 0; i < dim; ++i) mean += x[r * ldx + i];
    mean /= double(dim);
    double var = 0.0;
    for (int64_t i = 0; i < dim; ++i) {
      const double c = x[r * ldx + i] - mean;
      var += c * c;
    }
    var /= double(dim);
    const double rstd = 1.0 / std::sqrt(var + double(eps));
    for (int64_t i = 0; i < dim; ++i) {
      const double v = (x[r * ldx + i] - mean) * rstd * w[i] + (b ? double(b[i]) : 0.0);
      y[r * ldy + i] = float(v);
    }
  }
}

std::vector<float> rope_inv_freq(int64_t head_dim, double theta, const RopeScaling& scaling,
                                 int64_t max_position, int64_t seq_len) {
  const std::string& type = scaling.type;
  double base = theta;
  if (type == "dynamic" && seq_len > max_position) {
    const double f = scaling.factor, d = double(head_dim);
    base = theta * std::pow(f * double(seq_len) / double(max_position) - (f - 1.0), d / (d - 2.0));
  }
  std::vector<float> inv;
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    const float exponent = float(2 * i) / float(head_dim);
    const float power = float(std::pow(double(float(base)), double(exponent)));
    float f = 1.0f / power;
    if (type == "llama3") {
      const float factor = float(scaling.factor);
      const float wavelen = (1.0f / f) * float(2.0 * std::numbers::pi);
      const float low_wavelen =
          float(double(scaling.original_max_position) / scaling.low_freq_factor);
      const float high_wavelen =
          float(double(scaling.original_max_position) / scaling.high_freq_factor);
      if (wavelen < high_wavelen) {
        // high frequency: unchanged
      } else if (wavelen > low_wavelen) {
        f = f / factor;
      } else {
        const float smooth = ((1.0f / wavelen) * float(scaling.original_max_position) -
                              float(scaling.low_freq_factor)) /
                             float(scaling.high_freq_factor - scaling.low_freq_factor);
        f = (1.0f - smooth) * f / factor + smooth * f;
      }
    }
    inv.push_back(f);
  }
  return inv;
}

void rope(float* x, int64_t rows, int64_t n_heads, int64_t head_dim, int64_t ld, const int32_t* pos,
          double theta, const RopeScaling& scaling, int64_t max_position, int64_t seq_len) {
  const std::vector<float> inv = rope_inv_freq(head_dim, theta, scaling, max_position, seq_len);
  const int64_t half = head_dim / 2;
  for (int64_t r = 0; r < rows; ++r) {
    float t = float(pos[r]);
    if (scaling.type == "linear") t = t / float(scaling.factor);
    for (int64_t h = 0; h < n_heads; ++h) {
      float* a = x + r * ld + h * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const double angle = double(t * inv[size_t(i)]);
        const double c = std::cos(angle), s = std::sin(angle);
        const double x1 = a[i], x2 = a[i + half];
        a[i] = float(x1 * c - x2 * s);
        a[i + half] = float(x2 * c + x1 * s);
      }
    }
  }
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = float(g / (1.0 + std::exp(-g)) * double(up[i]));
  }
}

void gelu_erf(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    x[i] = float(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))));
  }
}

void gelu_quick(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    x[i] = float(v / (1.0 + std::exp(-1.702 * v)));
  }
}

void softmax(float* x, int64_t n) {
  double mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, double(x[i]));
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(x[i]) - mx);
  for (int64_t i = 0; i < n; ++i) x[i] = float(std::exp(double(x[i]) - mx) / sum);
}

void attention(const float* q, int64_t n_q, int64_t ldq, int64_t q_start, const float* k,
               const float* v, int64_t n_kv, int64_t ldkv, const AttentionShape& s, float scale,
               float* out, int64_t ldo, bool causal) {
  const int64_t d = s.head_dim, group = s.n_heads / s.n_kv_heads;
  std::vector<double> score(size_t(n_q * n_kv));
  for (int64_t h = 0; h < s.n_heads; ++h) {
    const int64_t kvh = h / group;
    // Scores with the causal mask as -inf.
    for (int64_t i = 0; i < n_q; ++i) {
      for (int64_t j = 0; j < n_kv; ++j) {
        double dot = 0.0;
        for (int64_t t = 0; t < d; ++t)
          dot += double(q[i * ldq + h * d + t]) * k[j * ldkv + kvh * d + t];
        const bool visible = !causal || j <= q_start + i;
        score[size_t(i * n_kv + j)] = visible ? dot * scale : -INFINITY;
      }
    }
    // Softmax per row.
    for (int64_t i = 0; i < n_q; ++i) {
      double* row = &score[size_t(i * n_kv)];
      double mx = -INFINITY;
      for (int64_t j = 0; j < n_kv; ++j) mx = std::max(mx, row[j]);
      double sum = 0.0;
      for (int64_t j = 0; j < n_kv; ++j) sum += std::exp(row[j] - mx);
      for (int64_t j = 0; j < n_kv; ++j) row[j] = std::exp(row[j] - mx) / sum;
    }
    // Weighted sum of values.
    for (int64_t i = 0; i < n_q; ++i) {
      for (int64_t t = 0; t < d; ++t) {
        double acc = 0.0;
        for (int64_t j = 0; j < n_kv; ++j)
          acc += score[size_t(i * n_kv + j)] * v[j * ldkv + kvh * d + t];
        out[i * ldo + h * d + t] = float(acc);
      }
    }
  }
}

}  // namespace yopo::ops::ref
