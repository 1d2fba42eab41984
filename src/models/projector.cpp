#include "models/projector.h"

#include "core/error.h"
#include "models/llama_weights.h"
#include "ops/activations.h"
#include "ops/matmul.h"

namespace yopo {

std::vector<float> MlpProjector::forward(ops::Context& ctx, const float* x, int64_t rows,
                                         int64_t ldx) const {
  const int64_t h = w1.rows, out = w2.rows;
  std::vector<float> mid(size_t(rows * h)), y(size_t(rows * out));
  ops::matmul(ctx, x, rows, ldx, w1.full(), mid.data(), h);
  // Bias and GELU row by row while the row is in cache, rows over the threads.
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    float* row = mid.data() + r * h;
    for (int64_t c = 0; c < h; ++c) row[c] += b1[size_t(c)];
    ops::gelu_erf(row, h);
  }
  ops::matmul(ctx, mid.data(), rows, h, w2.full(), y.data(), out);
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < out; ++c) y[size_t(r * out + c)] += b2[size_t(c)];
  return y;
}

MlpProjector load_mlp_projector(const TensorSource& src, const std::string& n1,
                                const std::string& n2, int64_t in_dim, int64_t out_dim,
                                DType dtype) {
  const RawTensor* t1 = src.find(n1 + ".weight");
  check(t1 != nullptr, "projector tensor '", n1, ".weight' is missing");
  check(t1->shape.size() == 2, "projector tensor '", n1, ".weight' must be 2-D");
  const int64_t hidden = t1->shape[0];
  MlpProjector p;
  const std::vector<float> w1 = read_tensor_f32(src, n1 + ".weight", {hidden, in_dim});
  const std::vector<float> w2 = read_tensor_f32(src, n2 + ".weight", {out_dim, hidden});
  p.w1 = ops::WeightMatrix::from_f32(w1.data(), hidden, in_dim, dtype);
  p.w2 = ops::WeightMatrix::from_f32(w2.data(), out_dim, hidden, dtype);
  p.b1 = read_tensor_f32(src, n1 + ".bias", {hidden});
  p.b2 = read_tensor_f32(src, n2 + ".bias", {out_dim});
  return p;
}

}  // namespace yopo
