#include "runtime/generator.h"

#include <chrono>
#include <numeric>
#include <optional>

#include "core/error.h"
#include "models/llava.h"

namespace yopo {

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

PromptRows build_prompt_rows(const LlamaModel& model, const GenerationRequest& req) {
  const int64_t d = model.config().dim;
  PromptRows p;
  for (int32_t id : req.prompt) p.n += id == kImageMarker ? req.rows_per_image : 1;
  p.embeddings.resize(size_t(p.n * d));
  int64_t row = 0, image = 0;
  for (int32_t id : req.prompt) {
    float* dst = &p.embeddings[size_t(row * d)];
    if (id == kImageMarker) {
      check(req.image_rows != nullptr && req.rows_per_image > 0,
            "the prompt has an image marker but no image was given");
      std::copy_n(req.image_rows + image * req.rows_per_image * d, req.rows_per_image * d, dst);
      if (req.grid_rows * req.grid_cols == req.rows_per_image)
        p.layout.images.push_back({row, req.grid_rows, req.grid_cols});
      row += req.rows_per_image;
      ++image;
    } else {
      model.embed(&id, 1, dst);
      ++row;
    }
  }
  p.positions.resize(size_t(p.n));
  std::iota(p.positions.begin(), p.positions.end(), 0);
  return p;
}

std::vector<int32_t> Generator::generate(const GenerationRequest& req, Sampler& sampler,
                                         GenerationStats* stats) {
  check(!req.prompt.empty(), "the prompt has no tokens (add BOS)");
  check(req.max_new_tokens >= 0, "the number of tokens to generate must not be negative");
  const LlamaConfig& cfg = model_.config();
  PromptRows rows = build_prompt_rows(model_, req);
  std::optional<KvCache> own;
  if (req.cache == nullptr)
    own.emplace(model_.make_cache(rows.n + std::max<int64_t>(req.max_new_tokens, 1)));
  KvCache& cache = req.cache != nullptr ? *req.cache : *own;
  cache.reserve_rows(rows.n + std::max<int64_t>(req.max_new_tokens, 1) - 1);
  for (int32_t& p : rows.positions) p += int32_t(cache.size());

  std::vector<int32_t> history = req.history, out;
  for (int32_t id : req.prompt)
    if (id != kImageMarker) history.push_back(id);
  std::vector<float> emb(size_t(cfg.dim));

  GenerationStats st;
  st.prompt_tokens = rows.n;
  st.visual_tokens = rows.layout.visual_count();
  auto t0 = std::chrono::steady_clock::now();
  DecoderBatch batch{rows.embeddings.data(), rows.n, rows.positions.data(), &rows.layout, false,
                     req.plan, req.flops};
  std::vector<float> logits = model_.forward(ctx_, cache, batch);
  st.prompt_ms = ms_since(t0);

  t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < req.max_new_tokens; ++i) {
    if (i > 0) {
      const int32_t p = int32_t(cache.size());
      model_.embed(&history.back(), 1, emb.data());
      batch = DecoderBatch{emb.data(), 1, &p, nullptr, false, req.plan, req.flops};
      logits = model_.forward(ctx_, cache, batch);
    }
    const int32_t next = sampler.sample(logits.data(), int32_t(cfg.vocab_size), history);
    if (next == req.eos_id) break;
    out.push_back(next);
    history.push_back(next);
    ++st.generated_tokens;
    if (req.on_token && !req.on_token(next)) break;
  }
  st.decode_ms = ms_since(t0);
  if (stats) *stats = st;
  return out;
}

}  // namespace yopo
