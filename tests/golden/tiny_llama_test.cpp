// Tiny random LlamaForCausalLM models written by tools/make_tiny_llama.py (HF transformers 4.36.2)
// in safetensors (single and sharded) and GGUF (f32, f16, q8_0): yopo's logits must match HF's.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include <nlohmann/json.hpp>

#include "io/json_file.h"
#include "io/npy.h"
#include "runtime/generator.h"
#include "runtime/model_loader.h"
#include "support/test_paths.h"

namespace yopo {
namespace {

struct Case {
  std::string variant;  // fixture directory with reference.json
  std::string model;    // path relative to the variant directory
  DType dtype;
  float tol;            // max abs logit error allowed
};

std::string variant_dir(const std::string& v) { return test::fixture("tiny_llama/" + v); }

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// One forward over the whole prompt, logits of every row.
std::vector<float> full_logits(const LlamaModel& m, const std::vector<int32_t>& ids) {
  ops::Context ctx(2);
  const int64_t n = int64_t(ids.size());
  KvCache cache = m.make_cache(n);
  std::vector<float> emb(size_t(n * m.config().dim));
  m.embed(ids.data(), n, emb.data());
  std::vector<int32_t> pos(ids.size());
  std::iota(pos.begin(), pos.end(), 0);
  return m.forward(ctx, cache, {emb.data(), n, pos.data(), nullptr, true});
}

// Prefill of the first `prefill` tokens (logits of every row), then one token per call.
std::vector<float> cached_logits(const LlamaModel& m, const std::vector<int32_t>& ids,
                                 int64_t prefill) {
  ops::Context ctx(2);
  const int64_t n = int64_t(ids.size()), d = m.config().dim;
  KvCache cache = m.make_cache(n);
  std::vector<float> emb(size_t(n * d));
  m.embed(ids.data(), n, emb.data());
  std::vector<int32_t> pos(ids.size());
  std::iota(pos.begin(), pos.end(), 0);
  std::vector<float> out = m.forward(ctx, cache, {emb.data(), prefill, pos.data(), nullptr, true});
  for (int64_t i = prefill; i < n; ++i) {
    std::vector<float> l =
        m.forward(ctx, cache, {emb.data() + i * d, 1, pos.data() + i, nullptr, false});
    out.insert(out.end(), l.begin(), l.end());
  }
  return out;
}

class TinyLlama : public ::testing::TestWithParam<Case> {};

TEST_P(TinyLlama, LogitsMatchHfFullAndCached) {
  const Case& c = GetParam();
  const std::string dir = variant_dir(c.variant);
  const nlohmann::json ref = read_json_file(dir + "/reference.json");
  const LoadedModel lm = load_llama_model(dir + "/" + c.model, c.dtype);
  for (const auto& p : ref["prompts"]) {
    const std::vector<int32_t> ids = p["ids"].get<std::vector<int32_t>>();
    const NpyArray full = read_npy(dir + "/" + p["logits"].get<std::string>());
    const NpyArray cached = read_npy(dir + "/" + p["logits_cached"].get<std::string>());
    ASSERT_EQ(full.numel(), int64_t(ids.size()) * lm.model->config().vocab_size);
    const float e_full = max_abs_diff(full_logits(*lm.model, ids), full.as_f32());
    const float e_cached =
        max_abs_diff(cached_logits(*lm.model, ids, p["prefill_len"].get<int64_t>()),
                     cached.as_f32());
    EXPECT_LE(e_full, c.tol) << c.model << " prompt of " << ids.size() << " tokens (full)";
    EXPECT_LE(e_cached, c.tol) << c.model << " prompt of " << ids.size() << " tokens (cached)";
  }
}

// The dynamic-NTK model's single full pass uses the base of the whole length; the reference
// for it is HF's full pass (its cached path differs by design and is checked above).
INSTANTIATE_TEST_SUITE_P(
    Formats, TinyLlama,
    ::testing::Values(Case{"gqa_untied", "model.safetensors", DType::F32, 1e-4f},
                      Case{"gqa_untied", ".", DType::F32, 1e-4f},
                      Case{"gqa_untied", "../gqa_untied_sharded", DType::F32, 1e-4f},
                      Case{"gqa_untied", "model-f32.gguf", DType::F32, 1e-4f},
                      Case{"mha_tied_linear", ".", DType::F32, 1e-4f},
                      Case{"mha_tied_linear", "model-f32.gguf", DType::F32, 1e-4f},
                      Case{"gqa_untied", "model.safetensors", DType::BF16, 0.25f},
                      Case{"gqa_untied", "model-f32.gguf", DType::BF16, 0.25f},
                      Case{"mha_tied_linear", "model-f32.gguf", DType::BF16, 0.25f}),
    [](const auto& info) {
      std::string s = info.param.variant + "_" + info.param.model + "_" +
                      dtype_name(info.param.dtype);
      for (char& ch : s)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return s;
    });

TEST(TinyLlamaDynamic, CachedDecodeMatchesHfCachedPath) {
  const std::string dir = variant_dir("gqa_dynamic");
  const nlohmann::json ref = read_json_file(dir + "/reference.json");
  const LoadedModel lm = load_llama_model(dir, DType::F32);
  for (const auto& p : ref["prompts"]) {
    const std::vector<int32_t> ids = p["ids"].get<std::vector<int32_t>>();
    const NpyArray full = read_npy(dir + "/" + p["logits"].get<std::string>());
    const NpyArray cached = read_npy(dir + "/" + p["logits_cached"].get<std::string>());
    EXPECT_LE(max_abs_diff(full_logits(*lm.model, ids), full.as_f32()), 1e-4f);
    EXPECT_LE(max_abs_diff(cached_logits(*lm.model, ids, p["prefill_len"].get<int64_t>()),
                           cached.as_f32()),
              1e-4f);
  }
}

// Quantized GGUF files against HF run on the same effective (dequantized) weights.
TEST(TinyLlamaQuantized, MatchesHfOnDequantizedWeights) {
  const std::string dir = variant_dir("gqa_untied");
  const nlohmann::json ref = read_json_file(dir + "/reference.json");
  for (const char* q : {"f16", "q8_0"}) {
    const auto& dq = ref["dequantized_reference"][q];
    const LoadedModel lm = load_llama_model(dir + "/" + dq["gguf"].get<std::string>(), DType::F32);
    const auto& prompts = dq["prompts"];
    for (size_t i = 0; i < prompts.size(); ++i) {
      const auto& p = ref["prompts"][prompts[i].get<size_t>()];
      const std::vector<int32_t> ids = p["ids"].get<std::vector<int32_t>>();
      const NpyArray expect = read_npy(dir + "/" + dq["logits"][i].get<std::string>());
      EXPECT_LE(max_abs_diff(full_logits(*lm.model, ids), expect.as_f32()), 1e-4f) << q;
    }
  }
}

TEST(TinyLlama, GreedyContinuationMatchesHfGenerate) {
  const std::string dir = variant_dir("gqa_untied");
  const nlohmann::json ref = read_json_file(dir + "/reference.json");
  const LoadedModel lm = load_llama_model(dir + "/model-f32.gguf", DType::F32);
  const auto& g = ref["greedy"];
  ops::Context ctx(2);
  SamplingParams sp;
  sp.temperature = 0;
  Sampler sampler(sp);
  GenerationRequest req;
  req.prompt = ref["prompts"][g["prompt"].get<size_t>()]["ids"].get<std::vector<int32_t>>();
  req.max_new_tokens = g["max_new_tokens"].get<int64_t>();
  Generator gen(*lm.model, ctx);
  EXPECT_EQ(gen.generate(req, sampler), g["new_ids"].get<std::vector<int32_t>>());
}

}  // namespace
}  // namespace yopo
