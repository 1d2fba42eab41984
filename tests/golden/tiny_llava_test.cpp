// A tiny random LLaVA-1.5 written by tools/make_tiny_llava.py (HF transformers 4.36.2) in three
// layouts (llava-hf, original LLaVA + CLIP dir, llama.cpp text GGUF + mmproj GGUF): every stage
// must match HF's outputs from every layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "io/json_file.h"
#include "io/npy.h"
#include "runtime/generator.h"
#include "runtime/model_loader.h"
#include "runtime/prompt.h"
#include "support/test_paths.h"
#include "vision/image.h"

namespace yopo {
namespace {

std::string dir() { return test::fixture("tiny_llava"); }
std::vector<float> npy(const std::string& name) {
  return read_npy(dir() + "/reference/" + name).as_f32();
}
nlohmann::json reference() { return read_json_file(dir() + "/reference/reference.json"); }

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

struct Layout {
  std::string name, path;
  LlavaLoadOptions opts;
};

LoadedLlava load(const Layout& l, DType dtype) {
  LlavaLoadOptions o = l.opts;
  o.dtype = dtype;
  if (!o.mmproj.empty()) o.mmproj = dir() + "/" + o.mmproj;
  return load_llava_model(dir() + "/" + l.path, o);
}

std::vector<int32_t> prompt_with_marker(const nlohmann::json& ref) {
  std::vector<int32_t> ids = ref["input_ids"].get<std::vector<int32_t>>();
  std::replace(ids.begin(), ids.end(), ref["image_token_id"].get<int32_t>(), kImageMarker);
  return ids;
}

Layout gguf_layout() {
  Layout l{"gguf", "gguf/text.gguf", {}};
  l.opts.mmproj = "gguf/mmproj.gguf";
  return l;
}

class TinyLlava : public ::testing::TestWithParam<Layout> {};

TEST_P(TinyLlava, VisionAndProjectorMatchHf) {
  const LoadedLlava lm = load(GetParam(), DType::F32);
  const LlavaModel& m = *lm.model;
  ops::Context ctx(2);
  const std::vector<float> px = npy("pixel_values.npy");
  EXPECT_LE(max_abs_diff(m.vision_features(ctx, px.data(), 1), npy("vision_features.npy")), 1e-4f);
  EXPECT_LE(max_abs_diff(m.encode_images(ctx, px.data(), 1), npy("projector_output.npy")), 1e-4f);

  std::vector<float> batch = px;
  const std::vector<float> px2 = npy("pixel_values_grace_hopper.npy");
  batch.insert(batch.end(), px2.begin(), px2.end());
  EXPECT_LE(max_abs_diff(m.vision_features(ctx, batch.data(), 2), npy("vision_features_batch.npy")),
            1e-4f);
  EXPECT_LE(max_abs_diff(m.encode_images(ctx, batch.data(), 2), npy("projector_output_batch.npy")),
            1e-4f);
}

TEST_P(TinyLlava, MultimodalLogitsAndGreedyMatchHf) {
  const LoadedLlava lm = load(GetParam(), DType::F32);
  const LlavaModel& m = *lm.model;
  const nlohmann::json ref = reference();
  ops::Context ctx(2);
  const std::vector<float> px = npy("pixel_values.npy");
  const std::vector<float> rows = m.encode_images(ctx, px.data(), 1);

  GenerationRequest req;
  req.prompt = prompt_with_marker(ref);
  req.image_rows = rows.data();
  req.rows_per_image = m.rows_per_image();
  req.grid_rows = m.grid_rows();
  req.grid_cols = m.grid_cols();
  const PromptRows pr = build_prompt_rows(*m.llm, req);
  ASSERT_EQ(pr.n, ref["expanded_length"].get<int64_t>());
  ASSERT_EQ(pr.layout.images.size(), 1u);
  EXPECT_EQ(pr.layout.images[0].start, ref["image_token_pos"].get<int64_t>());
  EXPECT_EQ(pr.layout.images[0].grid_rows, 6);

  KvCache cache = m.llm->make_cache(pr.n);
  const std::vector<float> logits = m.llm->forward(
      ctx, cache, {pr.embeddings.data(), pr.n, pr.positions.data(), &pr.layout, true});
  EXPECT_LE(max_abs_diff(logits, npy("logits.npy")), 1e-4f);

  SamplingParams sp;
  sp.temperature = 0;
  Sampler sampler(sp);
  req.max_new_tokens = int64_t(ref["greedy_new_ids"].size());
  EXPECT_EQ(Generator(*m.llm, ctx).generate(req, sampler),
            ref["greedy_new_ids"].get<std::vector<int32_t>>());
}

TEST_P(TinyLlava, Bf16WeightsStayClose) {
  const LoadedLlava lm = load(GetParam(), DType::BF16);
  ops::Context ctx(2);
  const std::vector<float> px = npy("pixel_values.npy");
  // bf16 keeps 8 mantissa bits: features of std ~1.2 move by a few 1e-2 at most.
  EXPECT_LE(max_abs_diff(lm.model->encode_images(ctx, px.data(), 1), npy("projector_output.npy")),
            0.1f);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, TinyLlava,
    ::testing::Values(Layout{"hf", "hf", {}}, Layout{"orig", "orig", {}},
                      gguf_layout()),
    [](const auto& info) { return info.param.name; });

TEST(TinyLlavaPrompt, GgufVocabTokenizesLikeLlava) {
  const nlohmann::json ref = reference();
  const LoadedLlava lm = load(gguf_layout(), DType::F32);
  ASSERT_NE(lm.tokenizer, nullptr);
  const std::string prompt = ref["prompt"].get<std::string>();
  EXPECT_EQ(tokenize_with_images(*lm.tokenizer, prompt, true), prompt_with_marker(ref));
  EXPECT_EQ(format_prompt(ChatTemplate::VicunaV1, "What is in the picture?", true), prompt);
}

TEST(TinyLlavaPrompt, SentencePieceModelTokenizesLikeLlava) {
  YOPO_REQUIRE_ASSET(sp, "tokenizer/stories260K-tok512.model");
  const nlohmann::json ref = reference();
  const auto tok = load_tokenizer(sp);
  EXPECT_EQ(tokenize_with_images(*tok, ref["prompt"].get<std::string>(), true),
            prompt_with_marker(ref));
}

TEST(TinyLlavaImage, RealPhotoPreprocessesLikeHf) {
  YOPO_REQUIRE_ASSET(photo, "images/chelsea.png");
  const LoadedLlava lm = load({"orig", "orig", {}}, DType::F32);
  const std::vector<float> px = preprocess_image(load_image(photo), lm.model->preprocess);
  // Within 2/255 in pixel space, i.e. 2/255/std after normalization.
  EXPECT_LE(max_abs_diff(px, npy("pixel_values.npy")), 2.0f / 255.0f / 0.26f);
}

TEST(TinyLlavaErrors, MissingVisionTowerIsClear) {
  LlavaLoadOptions o;
  o.vision_tower = test::temp_dir() + "/no-such-dir";
  try {
    load_llava_model(dir() + "/orig", o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace yopo
