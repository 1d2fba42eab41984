// LLaVA's multimodal projector `mlp2x_gelu`: Linear -> exact (erf) GELU -> Linear.
#pragma once

#include <string>
#include <vector>

#include "io/tensor_source.h"
#include "ops/context.h"
#include "ops/weights.h"

namespace yopo {

struct MlpProjector {
  ops::WeightMatrix w1, w2;  // [hidden, in], [out, hidden]
  std::vector<float> b1, b2;

  int64_t in_dim() const { return w1.cols; }
  int64_t out_dim() const { return w2.rows; }
  // x: rows of in_dim (row stride ldx) -> rows of out_dim.
  std::vector<float> forward(ops::Context& ctx, const float* x, int64_t rows, int64_t ldx) const;
};

// Loads the two linear layers named n1 and n2 (".weight" / ".bias" appended); shapes are taken
// from the file and checked against in_dim and out_dim.
MlpProjector load_mlp_projector(const TensorSource& src, const std::string& n1,
                                const std::string& n2, int64_t in_dim, int64_t out_dim,
                                DType dtype);

}  // namespace yopo
