#include "models/llava.h"

#include <cstring>

#include "core/error.h"

namespace yopo {

std::vector<float> LlavaModel::vision_features(ops::Context& ctx, const float* pixels,
                                               int64_t n_images) const {
  const std::vector<float> hidden = vision->encode(ctx, pixels, n_images);
  if (!drop_class_token) return hidden;
  const int64_t d = vision->config().dim, npos = vision->config().n_positions(),
                np = npos - 1;
  std::vector<float> out(size_t(n_images * np * d));
  for (int64_t i = 0; i < n_images; ++i)
    std::memcpy(&out[size_t(i * np * d)], &hidden[size_t((i * npos + 1) * d)],
                size_t(np * d) * sizeof(float));
  return out;
}

std::vector<float> LlavaModel::encode_images(ops::Context& ctx, const float* pixels,
                                             int64_t n_images) const {
  const std::vector<float> f = vision_features(ctx, pixels, n_images);
  const int64_t d = vision->config().dim;
  check(projector.in_dim() == d, "projector input ", projector.in_dim(),
        " does not match the vision width ", d);
  check(projector.out_dim() == llm->config().dim, "projector output ", projector.out_dim(),
        " does not match the decoder width ", llm->config().dim);
  return projector.forward(ctx, f.data(), int64_t(f.size()) / d, d);
}

}  // namespace yopo
