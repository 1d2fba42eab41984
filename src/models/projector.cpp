#include "models/projector.h"

#include "core/error.h"
#include "models/llama_weights.h"
#include "ops/bias.h"
#include "ops/matmul.h"

namespace yopo {

std::vector<float> MlpProjector::forward(ops::Context& ctx, const float* x, int64_t rows,
                                         int64_t ldx) const {
  const int64_t h = w1.rows, out = w2.rows;
  std::vector<float> mid(size_t(rows * h)), y(size_t(rows * out));
  ops::matmul(ctx, x, rows, ldx, w1.full(), mid.data(), h);
  ops::add_bias_gelu_rows(ctx, mid.data(), rows, h, b1.data(), /*quick=*/false);
  ops::matmul(ctx, mid.data(), rows, h, w2.full(), y.data(), out);
  ops::add_bias_rows(ctx, y.data(), rows, out, out, b2.data());
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
